"""Admin of tracked sessions: read-only, searchable by sub, sid and email."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from logout_sso import api
from logout_sso.admin.scoping import OrganizationScopedAdmin, ReadOnlyAdminMixin, acting_user
from logout_sso.models import Organization, TrackedSession


class ActiveFilter(admin.SimpleListFilter):
    """Live sessions (neither ended nor past their expiry) or the others."""

    title = _("status")
    parameter_name = "status"

    def lookups(
        self,
        request: HttpRequest,
        model_admin: admin.ModelAdmin,  # type: ignore[type-arg]
    ) -> list[tuple[str, str]]:
        return [("active", str(_("Active"))), ("ended", str(_("Ended or expired")))]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[TrackedSession]
    ) -> QuerySet[TrackedSession]:
        if self.value() == "active":
            return queryset.filter(ended_at__isnull=True).exclude(expires_at__lte=timezone.now())
        if self.value() == "ended":
            return queryset.filter(Q(ended_at__isnull=False) | Q(expires_at__lte=timezone.now()))
        return queryset


@admin.register(TrackedSession)
class TrackedSessionAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    organization_path = "organization"
    list_display = [
        "sub",
        "email",
        "organization",
        "application",
        "sid",
        "created_at",
        "expires_at",
        "ended_at",
        "end_reason",
        "logout_events",
    ]
    list_select_related = ["organization", "application"]
    list_filter = [
        ("organization", admin.RelatedOnlyFieldListFilter),
        ("application", admin.RelatedOnlyFieldListFilter),
        ActiveFilter,
        "end_reason",
    ]
    search_fields = ["sub", "sid", "email", "session_id"]
    date_hierarchy = "created_at"
    actions = ["log_out_users_everywhere"]

    @admin.display(description=_("logout events"))
    def logout_events(self, session: TrackedSession) -> str:
        """A link to the logout events of the session's user in its organization."""
        query = urlencode(
            {
                "sub": session.sub,
                "issuer": session.issuer,
                "organization__id__exact": session.organization_id,
            }
        )
        url = f"{reverse('admin:logout_sso_logoutevent_changelist')}?{query}"
        return format_html('<a href="{}">{}</a>', url, _("this user's logouts"))

    @admin.action(description=_("Log out these sessions' users everywhere"))
    def log_out_users_everywhere(
        self, request: HttpRequest, queryset: QuerySet[TrackedSession]
    ) -> None:
        users = list(queryset.values_list("issuer", "sub", "organization").distinct())
        organizations = Organization.objects.in_bulk({user[2] for user in users})
        events = [
            event
            for issuer, sub, organization_id in users
            if (
                event := api.log_out_user(
                    organizations[organization_id],
                    initiator=api.Initiator.ADMIN,
                    issuer=issuer,
                    sub=sub,
                    by_user=acting_user(request),
                )
            )
            is not None
        ]
        deliveries = sum(event.deliveries.count() for event in events)
        self.message_user(
            request,
            ngettext(
                "%(users)d user logged out: %(deliveries)d back-channel logouts queued.",
                "%(users)d users logged out: %(deliveries)d back-channel logouts queued.",
                len(events),
            )
            % {"users": len(events), "deliveries": deliveries},
        )
