"""Admin of logout events, with each delivery to an application as a read-only inline."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from logout_sso import api
from logout_sso.admin.scoping import OrganizationScopedAdmin, ReadOnlyAdminMixin
from logout_sso.models import Delivery, LogoutEvent


class DeliveryInline(ReadOnlyAdminMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = Delivery
    extra = 0
    ordering = ["application__name", "sid"]
    fields = readonly_fields = (
        "application",
        "sid",
        "state",
        "attempts",
        "last_status",
        "last_error",
        "latency_ms",
        "next_attempt_at",
        "delivered_at",
    )

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Deliveries are part of the event: whoever may see the event sees them.
        return True


@admin.register(LogoutEvent)
class LogoutEventAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    organization_path = "organization"
    inlines = [DeliveryInline]
    list_display = [
        "created_at",
        "organization",
        "initiator",
        "sub",
        "sid",
        "sessions_ended",
        "delivery_count",
        "outcome",
    ]
    list_select_related = ["organization"]
    list_filter = [
        ("organization", admin.RelatedOnlyFieldListFilter),
        "initiator",
        "outcome",
    ]
    search_fields = ["sub", "sid"]
    date_hierarchy = "created_at"
    actions = ["retry_failed_deliveries"]
    readonly_fields = [
        "organization",
        "initiator",
        "initiated_by_user",
        "initiated_by_application",
        "issuer",
        "sub",
        "sid",
        "sessions_ended",
        "outcome",
        "created_at",
        "completed_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[LogoutEvent]:
        queryset: QuerySet[LogoutEvent] = super().get_queryset(request)
        return queryset.annotate(delivery_count=Count("deliveries"))

    @admin.display(description=_("deliveries"), ordering="delivery_count")
    def delivery_count(self, event: LogoutEvent) -> int:
        return event.delivery_count  # type: ignore[attr-defined, no-any-return]

    @admin.action(description=_("Retry failed deliveries"))
    def retry_failed_deliveries(
        self, request: HttpRequest, queryset: QuerySet[LogoutEvent]
    ) -> None:
        count = api.retry_failed_deliveries(queryset)
        self.message_user(
            request,
            ngettext(
                "%(count)d failed delivery queued again.",
                "%(count)d failed deliveries queued again.",
                count,
            )
            % {"count": count},
        )
