"""Admin of tracked sessions: read-only, searchable by sub, sid and email."""

from __future__ import annotations

from django.contrib import admin

from logout_sso.admin.scoping import OrganizationScopedAdmin, ReadOnlyAdminMixin
from logout_sso.models import TrackedSession


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
    ]
    list_select_related = ["organization", "application"]
    list_filter = [
        ("organization", admin.RelatedOnlyFieldListFilter),
        ("application", admin.RelatedOnlyFieldListFilter),
        ("ended_at", admin.EmptyFieldListFilter),
        "end_reason",
    ]
    search_fields = ["sub", "sid", "email", "session_id"]
    date_hierarchy = "created_at"
