"""The admin's logout health page, as the admin's index lists it."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from logout_sso.models.organizations import Organization


class LogoutHealth(Organization):
    """Organizations seen through their logouts' health: a proxy (no table of its own) so the
    page has its entry in the admin's index; whoever may view an organization sees its
    health."""

    class Meta:
        proxy = True
        verbose_name = _("logout health")
        verbose_name_plural = _("logout health")
        default_permissions = ()
