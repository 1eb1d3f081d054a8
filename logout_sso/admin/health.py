"""The logout health page: an organization's logouts at a glance (live sessions, logouts and
deliveries over 24 hours and 30 days as charts, latency, failing and silent applications, what
is pending), and for a superuser the same across every organization."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from logout_sso.admin.charts import BarChart, Series
from logout_sso.admin.scoping import OrganizationScopedAdmin, administered_organizations
from logout_sso.conf import app_settings
from logout_sso.internal import health
from logout_sso.models import LogoutHealth, Organization
from logout_sso.models.events import DeliveryState

COLORS = {
    "logouts": "#1565c0",
    DeliveryState.DELIVERED: "#2e7d32",
    DeliveryState.FAILED: "#c62828",
    DeliveryState.PENDING: "#9e9e9e",
}


def _delivery_series(by_state: dict[str, list[int]]) -> list[Series]:
    return [
        Series(str(state.label), COLORS[state], by_state[state])
        for state in (DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.PENDING)
    ]


def charts(figures: health.Health) -> list[BarChart]:
    """The four charts: logouts and deliveries, per hour over 24 hours, per day over 30 days."""
    zone = timezone.get_current_timezone_name()
    hours = [
        date_format(timezone.localtime(figures.window.hour_start(index)), "H:i")
        for index in range(figures.window.hours - 24, figures.window.hours)
    ]
    days = [date_format(day, "M j") for day in figures.window.days()]
    hour_axis = _("Hour starting (%(zone)s)") % {"zone": zone}
    day_axis = _("Day (%(zone)s)") % {"zone": zone}
    by_hour = figures.deliveries_by_hour
    last_24 = {state: counts[-24:] for state, counts in by_hour.items()}
    per_day = {state: figures.by_day(counts) for state, counts in by_hour.items()}
    logouts = _("Logouts")
    return [
        BarChart(
            "logouts-24h",
            _("Logouts, last 24 hours"),
            hour_axis,
            _("Logouts per hour"),
            hours,
            [Series(logouts, COLORS["logouts"], figures.logouts_by_hour[-24:])],
            label_every=3,
        ),
        BarChart(
            "deliveries-24h",
            _("Deliveries to applications, last 24 hours"),
            hour_axis,
            _("Deliveries per hour"),
            hours,
            _delivery_series(last_24),
            label_every=3,
        ),
        BarChart(
            "logouts-30d",
            _("Logouts, last 30 days"),
            day_axis,
            _("Logouts per day"),
            days,
            [Series(logouts, COLORS["logouts"], figures.by_day(figures.logouts_by_hour))],
            label_every=5,
        ),
        BarChart(
            "deliveries-30d",
            _("Deliveries to applications, last 30 days"),
            day_axis,
            _("Deliveries per day"),
            days,
            _delivery_series(per_day),
            label_every=5,
        ),
    ]


@admin.register(LogoutHealth)
class LogoutHealthAdmin(OrganizationScopedAdmin):
    """Two pages, no form: the health of one organization, and across the organizations the
    user administers (all of them, for a superuser)."""

    organization_path = ""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        may_view = request.user.has_perm("logout_sso.view_organization")
        return may_view and self.is_in_scope(request, obj)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("", self.admin_site.admin_view(self.overview), name=f"{prefix}_changelist"),
            path(
                "<path:object_id>/",
                self.admin_site.admin_view(self.organization_health),
                name=f"{prefix}_organization",
            ),
        ]

    def overview(self, request: HttpRequest) -> HttpResponse:
        """Across every organization for a superuser; an organization's admin goes to their
        organization's page, or sees theirs together when they have several."""
        if not self.has_view_permission(request):
            raise Http404(_("You may not view the logout health."))
        if request.user.is_superuser:
            return self._render(request, None, _("Logout health: all organizations"))
        organizations = administered_organizations(request).order_by("name")
        if len(organizations) == 1:
            return redirect("admin:logout_sso_logouthealth_organization", organizations[0].pk)
        return self._render(request, organizations, _("Logout health: your organizations"))

    def organization_health(self, request: HttpRequest, object_id: str) -> HttpResponse:
        organization = self.get_object(request, object_id)
        if organization is None or not self.has_view_permission(request, organization):
            raise Http404(_("No organization with id %(id)r.") % {"id": object_id})
        scope = Organization.objects.filter(pk=organization.pk)
        title = _("Logout health: %(organization)s") % {"organization": organization.name}
        return self._render(request, scope, title, organization)

    def _render(
        self,
        request: HttpRequest,
        organizations: QuerySet[Organization] | None,
        title: str,
        organization: Organization | None = None,
    ) -> TemplateResponse:
        figures = health.collect(organizations)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "organization": organization,
            "organizations": None if organization or organizations is None else organizations,
            "health": figures,
            "charts": charts(figures),
            "silent_days": app_settings.SILENT_APPLICATION_DAYS,
            "window_days": health.WINDOW_DAYS,
            "failed_24h": figures.deliveries_last_24h(DeliveryState.FAILED),
        }
        return TemplateResponse(request, "logout_sso/admin/health.html", context)
