"""Client mode: what this project last heard from its hub about the organizations it serves."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class PolicyMirror(models.Model):
    """The state of this project's copy of the hub's organizations and policies (one row per
    hub URL): when it was last confirmed, and why the last try failed, if it did."""

    hub_url = models.CharField(
        _("hub URL"),
        max_length=500,
        unique=True,
        help_text=_("The hub's session API (LOGOUT_SSO['HUB_URL'])."),
    )
    etag = models.CharField(
        _("ETag"),
        max_length=200,
        blank=True,
        help_text=_("The version of the hub's answer this copy holds."),
    )
    synced_at = models.DateTimeField(
        _("confirmed at"),
        null=True,
        blank=True,
        help_text=_("When the hub last confirmed this copy (a new answer, or 'not modified')."),
    )
    attempted_at = models.DateTimeField(
        _("last attempt at"), null=True, blank=True, help_text=_("When the hub was last asked.")
    )
    last_error = models.TextField(
        _("last error"),
        blank=True,
        help_text=_("Why the last attempt failed; empty when it succeeded."),
    )

    class Meta:
        verbose_name = _("policy mirror")
        verbose_name_plural = _("policy mirrors")

    def __str__(self) -> str:
        return self.hub_url
