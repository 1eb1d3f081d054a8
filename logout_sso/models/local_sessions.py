"""The session index: this project's own sessions, by the IdP's issuer, subject and session id."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from logout_sso.models.organizations import Organization


class LocalSession(models.Model):
    """One Django session of a user signed in through OpenID Connect, so that a logout naming
    (issuer, sid) or (issuer, sub) finds its session keys without scanning every session."""

    session_key = models.CharField(
        _("session key"),
        max_length=64,
        unique=True,
        help_text=_("The key of the Django session in its session store."),
    )
    issuer = models.CharField(
        _("issuer"), max_length=500, help_text=_("The OpenID provider that signed the user in.")
    )
    sub = models.CharField(
        _("subject"), max_length=255, help_text=_("The user's id at the issuer (sub claim).")
    )
    sid = models.CharField(
        _("session id at the IdP"),
        max_length=255,
        blank=True,
        help_text=_("The IdP session (sid claim), when the IdP sends one."),
    )
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="local_sessions",
        verbose_name=_("organization"),
        help_text=_("The organization the user signed in for."),
    )
    created_at = models.DateTimeField(
        _("created at"), auto_now_add=True, help_text=_("When the user signed in.")
    )

    class Meta:
        verbose_name = _("local session")
        verbose_name_plural = _("local sessions")
        indexes = [
            # The sessions of an IdP session (sid) or of a user (sub) at an issuer, in some
            # organizations or any (session_index.matching_sessions). The most selective column
            # first, the organization in the index: with (issuer, sub) only, SQLite read every
            # session of the organization for a logout scoped to it (the hub's). No condition
            # on the sid: SQLite cannot use an index of rows with sid <> '' for sid = ?, and
            # read every session of the issuer for a logout by sid.
            models.Index(fields=["sid", "issuer", "organization"], name="logout_sso_local_sid"),
            models.Index(fields=["sub", "issuer", "organization"], name="logout_sso_local_sub"),
        ]

    def __str__(self) -> str:
        return f"{self.sub} ({self.session_key[:8]}…)"
