"""Admin of logout events, with each delivery to an application as a read-only inline."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Count, Exists, F, OuterRef, QuerySet
from django.http import HttpRequest
from django.utils.formats import date_format, number_format
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from logout_sso import api
from logout_sso.admin.date_range import DateRangeFilter
from logout_sso.admin.scoping import (
    OrganizationScopedAdmin,
    ReadOnlyAdminMixin,
    scoped_choices,
)
from logout_sso.admin.users import readable_name
from logout_sso.models import Application, Delivery, LogoutEvent
from logout_sso.models.events import DeliveryState


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

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        # Each row's heading names its application (Delivery.__str__).
        return super().get_queryset(request).select_related("application")


class FailedDeliveryFilter(admin.SimpleListFilter):
    """The logouts whose delivery to an application failed for good (the health page's
    "failing deliveries" link); the applications offered are the user's organizations'."""

    title = _("delivery failed to")
    parameter_name = "failed_to"

    def lookups(
        self,
        request: HttpRequest,
        model_admin: admin.ModelAdmin,  # type: ignore[type-arg]
    ) -> list[tuple[str, str]]:
        applications = scoped_choices(request, Application)
        if applications is None or request.user.is_superuser:
            applications = Application.objects.all()
        return [(str(pk), name) for pk, name in applications.values_list("pk", "name")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[LogoutEvent]
    ) -> QuerySet[LogoutEvent]:
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            raise IncorrectLookupParameters(_("Choose an application from the list."))
        failed = Delivery.objects.filter(
            event=OuterRef("pk"), application_id=int(value), state=DeliveryState.FAILED
        )
        return queryset.filter(Exists(failed))


@admin.register(LogoutEvent)
class LogoutEventAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    organization_path = "organization"
    inlines = [DeliveryInline]
    # What a logout came to (outcome, deliveries, duration) before the long and the secondary
    # columns: at 1400 px, between the navigation and the filters, the list is about 750 px wide.
    list_display = [
        "started",
        "sub",
        "initiator",
        "outcome",
        "delivery_count",
        "duration",
        "organization",
        "sessions_ended",
    ]
    list_select_related = ["organization"]
    list_filter = [
        ("organization", admin.RelatedOnlyFieldListFilter),
        "initiator",
        "outcome",
        ("created_at", DateRangeFilter),
        FailedDeliveryFilter,
    ]
    search_fields = ["sub", "sid"]
    date_hierarchy = "created_at"
    actions = ["retry_failed_deliveries"]
    # The initiating user is `initiated_by` (by a readable name), not also the raw field.
    exclude = ["initiated_by_user"]
    readonly_fields = [
        "organization",
        "initiator",
        "initiated_by",
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

    @admin.display(description=_("initiating user"))
    def initiated_by(self, event: LogoutEvent) -> str:
        return readable_name(event.initiated_by_user)

    @admin.display(description=_("started"), ordering="created_at")
    def started(self, event: LogoutEvent) -> str:
        """With seconds: logouts a few seconds apart are told apart."""
        return date_format(localtime(event.created_at), "Y-m-d H:i:s")

    @admin.display(description=_("duration"), ordering=F("completed_at") - F("created_at"))
    def duration(self, event: LogoutEvent) -> str:
        """From the start to the last delivery's outcome; empty while pending."""
        if event.completed_at is None:
            return "-"
        seconds = (event.completed_at - event.created_at).total_seconds()
        if seconds < 1:
            return f"{number_format(round(seconds * 1000), 0)} ms"
        return f"{number_format(round(seconds, 1), 1)} s"  # 1.5 s, 1,5 s in French

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
