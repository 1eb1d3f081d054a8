"""The Django permissions an organization's admin needs, for a group integrators create.

Scoping (``admin.scoping``) decides *which* objects a staff user reaches; these model
permissions decide *what* they may do there. Creating organizations, or deleting them, and
changing what binds one to its identity provider (slug, IdP organization id, connection, email
domains) stays with superusers.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db.models import QuerySet

__all__ = ["ORGANIZATION_ADMINS_GROUP", "ensure_organization_admins_group"]

ORGANIZATION_ADMINS_GROUP = "logout_sso organization admins"

ORGANIZATION_ADMIN_PERMISSIONS = (
    "view_organization",
    "change_organization",
    "view_logoutpolicy",
    "change_logoutpolicy",
    "view_emaildomain",
    "view_application",
    "add_application",
    "change_application",
    "delete_application",
    "view_trackedsession",
    "view_logoutevent",
    "view_delivery",
    "view_organizationlogoutjob",
    # Their own identity providers: a source can only ever log out its organization's users.
    "view_signalsource",
    "add_signalsource",
    "change_signalsource",
    "delete_signalsource",
)


def organization_admin_permissions() -> QuerySet[Permission]:
    return Permission.objects.filter(
        content_type__app_label="logout_sso", codename__in=ORGANIZATION_ADMIN_PERMISSIONS
    )


def ensure_organization_admins_group() -> Group:
    """The group giving its members the organization-admin permissions (created or updated)."""
    group, _created = Group.objects.get_or_create(name=ORGANIZATION_ADMINS_GROUP)
    group.permissions.set(organization_admin_permissions())
    return group
