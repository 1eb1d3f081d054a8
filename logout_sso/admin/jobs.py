"""Admin of organization-wide logouts: their progress, on a page that refreshes itself."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from logout_sso import api
from logout_sso.admin.scoping import OrganizationScopedAdmin, ReadOnlyAdminMixin
from logout_sso.admin.users import readable_name
from logout_sso.models import OrganizationLogoutJob

#: Seconds between two refreshes of an unfinished job's page.
REFRESH_SECONDS = 3


@admin.register(OrganizationLogoutJob)
class OrganizationLogoutJobAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    organization_path = "organization"
    change_form_template = "logout_sso/admin/organization_logout_job.html"
    list_display = ["created_at", "organization", "state", "users", "requester", "finished_at"]
    list_select_related = ["organization", "requested_by"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter), "state"]
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "organization",
        "requester",
        "state",
        "users_total",
        "users_done",
        "local_sessions_ended",
        "created_at",
        "started_at",
        "finished_at",
    )

    @admin.display(description=_("requested by"))
    def requester(self, job: OrganizationLogoutJob) -> str:
        return readable_name(job.requested_by)

    @admin.display(description=_("users done"))
    def users(self, job: OrganizationLogoutJob) -> str:
        return f"{job.users_done} / {job.users_total}"

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        job = self.get_object(request, object_id)
        if job is not None:
            progress = api.organization_logout_progress(job)
            extra_context = {
                **(extra_context or {}),
                "progress": progress,
                "refresh_seconds": None if progress.finished else REFRESH_SECONDS,
            }
        return super().change_view(request, object_id, form_url, extra_context)
