"""Admin of tracked sessions: read-only, searchable by sub, sid and email."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin import helpers
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
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


#: Users the confirmation page names (by their first sessions); the others are counted.
LISTED_SESSIONS = 20


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
    ) -> TemplateResponse | None:
        """After a confirmation page naming the users and what it ends: search for a user
        (sub, sid, email), tick a session of theirs, and confirm."""
        if request.POST.get("confirm") != "yes":
            return self._confirm_log_out(request, queryset)
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
        return None

    def _confirm_log_out(
        self, request: HttpRequest, queryset: QuerySet[TrackedSession]
    ) -> TemplateResponse:
        """How many users, and their live sessions in how many applications; the first ones by
        name."""
        same_user = queryset.filter(
            issuer=OuterRef("issuer"), sub=OuterRef("sub"), organization=OuterRef("organization")
        )
        theirs = TrackedSession.objects.live().filter(Exists(same_user))
        first = queryset.select_related("organization").order_by("organization__name", "sub")
        people = list(
            dict.fromkeys(
                (session.organization.name, session.sub, session.email)
                for session in first[:LISTED_SESSIONS]
            )
        )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Log these users out everywhere?"),
            "opts": self.opts,
            "people": people,
            "users": queryset.values("issuer", "sub", "organization").distinct().count(),
            "tracked_sessions": theirs.count(),
            "applications": theirs.values("application").distinct().count(),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
        }
        return TemplateResponse(request, "logout_sso/admin/log_out_users.html", context)
