"""Organizations' own identity providers as sources of logout signals: Universal Logout (Global
Token Revocation) and Shared Signals (CAEP / RISC Security Event Tokens).

A source belongs to one organization and can only ever affect that organization's users.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from logout_sso.internal import secret_box
from logout_sso.models.fields import SecureURLField
from logout_sso.models.organizations import Organization

#: CAEP and RISC event types a Shared Signals source may ask its transmitter for.
SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
CREDENTIAL_CHANGE = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
ACCOUNT_DISABLED = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
ACCOUNT_PURGED = "https://schemas.openid.net/secevent/risc/event-type/account-purged"
VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification"
LOGOUT_EVENTS = (SESSION_REVOKED, CREDENTIAL_CHANGE, ACCOUNT_DISABLED, ACCOUNT_PURGED)


class SignalKind(models.TextChoices):
    """What a source sends (``SignalSource.kind``)."""

    UNIVERSAL_LOGOUT = "universal_logout", _("Universal Logout (Global Token Revocation)")
    SHARED_SIGNALS = "shared_signals", _("Shared Signals transmitter (CAEP, RISC)")


class DeliveryMethod(models.TextChoices):
    """How a Shared Signals transmitter delivers its events (``SignalSource.delivery_method``)."""

    PUSH = "urn:ietf:rfc:8935", _("Push (the transmitter POSTs each event here)")
    POLL = "urn:ietf:rfc:8936", _("Poll (this project fetches the events)")


def default_events() -> list[str]:
    return list(LOGOUT_EVENTS)


class SignalSource(models.Model):
    """An organization's identity provider, trusted to log that organization's users out."""

    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="signal_sources",
        verbose_name=_("organization"),
        help_text=_("The only organization whose users this source can log out."),
    )
    name = models.CharField(
        _("name"), max_length=200, help_text=_("What the admins call it: 'Okta', 'Google'.")
    )
    kind = models.CharField(
        _("kind"),
        max_length=32,
        choices=SignalKind.choices,
        help_text=_("Universal Logout requests, or a Shared Signals transmitter's events."),
    )
    issuer = models.CharField(
        _("issuer"),
        max_length=500,
        help_text=_(
            "The iss claim of the source's signed requests or events, exactly (for Okta: the "
            "org's URL, https://acme.okta.com)."
        ),
    )
    jwks_uri = SecureURLField(
        _("JWKS URI"),
        max_length=2000,
        blank=True,
        help_text=_(
            "Where the source's signing keys are. Empty for a Shared Signals transmitter: "
            "its configuration names them."
        ),
    )
    configuration_url = SecureURLField(
        _("transmitter configuration URL"),
        max_length=2000,
        blank=True,
        help_text=_(
            "Shared Signals: the transmitter's /.well-known/ssf-configuration. Empty: the one "
            "of its issuer."
        ),
    )
    audience = models.CharField(
        _("audience"),
        max_length=500,
        blank=True,
        help_text=_(
            "The aud this project expects in the source's tokens. Empty: the URL of this "
            "organization's endpoint for the source's kind."
        ),
    )
    management_token_sealed = models.TextField(
        _("management credential"),
        blank=True,
        editable=False,
        help_text=_(
            "Shared Signals: the bearer token of the transmitter's stream management API, "
            "encrypted with a key derived from SECRET_KEY; never shown again."
        ),
    )
    delivery_method = models.CharField(
        _("delivery method"),
        max_length=32,
        choices=DeliveryMethod.choices,
        default=DeliveryMethod.PUSH,
        help_text=_("Shared Signals: push to this project's endpoint, or poll the transmitter."),
    )
    events_requested = models.JSONField(
        _("events requested"),
        default=default_events,
        blank=True,
        help_text=_("Shared Signals: the event types this project asks the transmitter for."),
    )
    credential_change_logs_out = models.BooleanField(
        _("a credential change logs out"),
        default=False,
        help_text=_(
            "Shared Signals: a CAEP credential-change event (a new password, a removed "
            "authenticator) logs the user out everywhere too."
        ),
    )
    stream_id = models.CharField(
        _("stream id"),
        max_length=255,
        blank=True,
        editable=False,
        help_text=_("Shared Signals: the stream the transmitter created for this project."),
    )
    stream_endpoint_url = models.URLField(
        _("poll endpoint"),
        max_length=2000,
        blank=True,
        editable=False,
        help_text=_("Shared Signals, poll delivery: where the transmitter said to poll."),
    )
    verification_state = models.CharField(
        _("verification state"),
        max_length=64,
        blank=True,
        editable=False,
        help_text=_("The state sent with the last verification request, echoed by its event."),
    )
    stream_status = models.CharField(
        _("stream status"),
        max_length=32,
        blank=True,
        editable=False,
        help_text=_("Shared Signals: enabled, paused or disabled, as the transmitter last said."),
    )
    stream_checked_at = models.DateTimeField(
        _("stream checked at"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("When the transmitter last answered about the stream."),
    )
    stream_verified_at = models.DateTimeField(
        _("verified at"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("When a verification event requested from the transmitter last arrived."),
    )
    stream_error = models.TextField(
        _("last error"),
        blank=True,
        editable=False,
        help_text=_("What the transmitter answered when the last stream operation failed."),
    )
    enabled = models.BooleanField(
        _("enabled"), default=True, help_text=_("A disabled source's signals are refused.")
    )
    created_at = models.DateTimeField(
        _("created at"), auto_now_add=True, help_text=_("When the source was added.")
    )

    class Meta:
        verbose_name = _("signal source")
        verbose_name_plural = _("signal sources")
        ordering = ["organization__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                name="logout_sso_signal_source_name",
                violation_error_message=_("The organization has a source of this name."),
            ),
            models.UniqueConstraint(
                fields=["organization", "kind", "issuer"],
                name="logout_sso_signal_source_issuer",
                violation_error_message=_(
                    "The organization has a source of this kind with this issuer."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(kind=SignalKind.UNIVERSAL_LOGOUT) | ~Q(jwks_uri=""),
                name="logout_sso_signal_source_keys",
                violation_error_message=_("A Universal Logout source needs its JWKS URI."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organization.name}: {self.name}"

    @property
    def has_management_token(self) -> bool:
        return bool(self.management_token_sealed)

    @property
    def management_token(self) -> str:
        """The stream management credential, in clear (empty when none is set)."""
        return secret_box.unseal(self.management_token_sealed) if self.has_management_token else ""

    def set_management_token(self, token: str) -> None:
        """Keep ``token`` encrypted (empty: forget it). Save the source afterwards."""
        self.management_token_sealed = secret_box.seal(token) if token else ""


class ReceivedSignal(models.Model):
    """A request or event a source sent, by its ``jti``: the same one is refused again."""

    source = models.ForeignKey(
        SignalSource,
        on_delete=models.CASCADE,
        related_name="received",
        verbose_name=_("source"),
        help_text=_("The source that sent it."),
    )
    jti_digest = models.CharField(
        _("jti digest"),
        max_length=64,
        help_text=_("SHA-256 of the jti: bounded, whatever the source sends."),
    )
    received_at = models.DateTimeField(
        _("received at"),
        auto_now_add=True,
        db_index=True,
        help_text=_("When it arrived; kept as long as logout events, then purged."),
    )

    class Meta:
        verbose_name = _("received signal")
        verbose_name_plural = _("received signals")
        constraints = [
            models.UniqueConstraint(fields=["source", "jti_digest"], name="logout_sso_signal_once"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.jti_digest[:12]}"
