"""Application sessions tracked by the logout service (the hub's session registry)."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from logout_sso.models.applications import Application
from logout_sso.models.organizations import Organization


class TrackedSessionQuerySet(models.QuerySet["TrackedSession"]):
    def live(self) -> TrackedSessionQuerySet:
        """Sessions neither ended nor past their expiry."""
        return self.filter(ended_at__isnull=True).exclude(expires_at__lte=timezone.now())

    def live_by_reason(self) -> TrackedSessionQuerySet:
        """:meth:`live`, told by the end reason (empty exactly while ``ended_at`` is: a
        constraint of the table) instead of ``ended_at``, which no index partial on
        ``ended_at`` matches: for look-ups that must go along another index whatever the
        statistics (``hub.internal.outbox.live_sessions``)."""
        return self.filter(end_reason="").exclude(expires_at__lte=timezone.now())

    def expired(self, now: datetime | None = None) -> TrackedSessionQuerySet:
        """Sessions not yet marked ended whose expiry has passed."""
        return self.filter(ended_at__isnull=True, expires_at__lte=now or timezone.now())


class EndReason(models.TextChoices):
    LOGOUT = "logout", _("Logged out")
    REMOVED = "removed", _("Removed by the application")
    EXPIRED = "expired", _("Expired")


class TrackedSession(models.Model):
    """One session of one user in one application, as the application reported it."""

    application = models.ForeignKey(
        Application,
        on_delete=models.CASCADE,
        related_name="tracked_sessions",
        verbose_name=_("application"),
        help_text=_("The application holding the session."),
    )
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="tracked_sessions",
        verbose_name=_("organization"),
        help_text=_("The organization of the signed-in user."),
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
    email = models.EmailField(
        _("email"), blank=True, help_text=_("The user's email, to find their sessions.")
    )
    session_id = models.CharField(
        _("application session id"),
        max_length=255,
        help_text=_("The application's own identifier of this session."),
    )
    created_at = models.DateTimeField(
        _("created at"), auto_now_add=True, help_text=_("When the application registered it.")
    )
    expires_at = models.DateTimeField(
        _("expires at"),
        null=True,
        blank=True,
        help_text=_("When the application will end the session by itself, if it said."),
    )
    ended_at = models.DateTimeField(
        _("ended at"),
        null=True,
        blank=True,
        help_text=_("When the session ended; empty while live."),
    )
    end_reason = models.CharField(
        _("end reason"),
        max_length=16,
        choices=EndReason.choices,
        blank=True,
        help_text=_("Why the session ended: logout, removed by the application, or expired."),
    )

    objects = TrackedSessionQuerySet.as_manager()

    class Meta:
        verbose_name = _("tracked session")
        verbose_name_plural = _("tracked sessions")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "session_id"],
                name="logout_sso_session_unique_per_app",
                violation_error_message=_("This application already registered this session."),
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True, end_reason="")
                | Q(ended_at__isnull=False) & ~Q(end_reason=""),
                name="logout_sso_session_end_reason",
                violation_error_message=_("An ended session needs a reason, a live one none."),
            ),
        ]
        indexes = [
            # A user's sessions, or an IdP session's: a logout's, live (hub.internal.outbox),
            # and the organizations of a back-channel logout that ended no session, ended or
            # not (receiver.internal.logouts). The most selective column first, the
            # organization last: with the issuer first (nearly always the same) and the
            # organization elsewhere, PostgreSQL without fresh statistics and SQLite always
            # chose an index that scans the whole organization for each user.
            models.Index(fields=["sub", "issuer", "organization"], name="logout_sso_session_sub"),
            models.Index(fields=["sid", "issuer", "organization"], name="logout_sso_session_sid"),
            # An organization's users, in order (an organization-wide logout's batches).
            models.Index(
                fields=["organization", "issuer", "sub"],
                condition=Q(ended_at__isnull=True),
                name="logout_sso_session_live_org",
            ),
            models.Index(
                fields=["expires_at"],
                condition=Q(ended_at__isnull=True, expires_at__isnull=False),
                name="logout_sso_session_expiry",
            ),
            # The sessions an organization's applications registered lately (the admin's
            # health page: is each application still heard from?).
            models.Index(fields=["organization", "created_at"], name="logout_sso_session_org_time"),
            # The purge reads ended sessions oldest first (logout_sso.internal.retention).
            models.Index(
                fields=["ended_at"],
                condition=Q(ended_at__isnull=False),
                name="logout_sso_session_ended",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sub} @ {self.application_id}:{self.session_id}"
