"""Applications registered with the logout service (the hub)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from logout_sso.internal.credentials import generate_credential, secret_matches, split_credential
from logout_sso.models.fields import SecureURLField
from logout_sso.models.organizations import Organization


class ApplicationQuerySet(models.QuerySet["Application"]):
    def enabled(self) -> ApplicationQuerySet:
        return self.filter(enabled=True)

    def create_with_credential(self, **fields: object) -> tuple[Application, str]:
        """Create an application and its API credential; returns both, the credential in clear
        for the only time."""
        application = self.model(**fields)
        token = application.rotate_credential()
        application.save(force_insert=True)
        return application, token


class Application(models.Model):
    """An application that holds sessions of organizations' users and receives logouts."""

    name = models.CharField(
        _("name"),
        max_length=200,
        unique=True,
        help_text=_("The application's name, as users know it."),
    )
    organizations = models.ManyToManyField(
        Organization,
        verbose_name=_("organizations"),
        related_name="applications",
        help_text=_("Organizations whose users sign in to this application."),
    )
    client_id = models.CharField(
        _("client id"),
        max_length=255,
        unique=True,
        help_text=_(
            "The application's OpenID Connect client id: the audience of the logout tokens "
            "sent to it."
        ),
    )
    backchannel_logout_uri = SecureURLField(
        _("back-channel logout URI"),
        max_length=2000,
        blank=True,
        help_text=_(
            "Where logout tokens are POSTed (OpenID Connect Back-Channel Logout): an absolute "
            "https URL (http only for localhost), without user name or fragment. Empty: the "
            "application is not sent back-channel logouts."
        ),
    )
    backchannel_logout_session_required = models.BooleanField(
        _("requires sid"),
        default=False,
        help_text=_("The application needs the session id (sid) in every logout token."),
    )
    credential_id = models.CharField(  # noqa: DJ001 - NULL until issued; unique ignores NULLs
        _("credential id"),
        max_length=32,
        unique=True,
        null=True,
        editable=False,
        help_text=_(
            "Public part of the API credential, to tell credentials apart; empty until a "
            "credential is issued."
        ),
    )
    credential_digest = models.CharField(
        _("credential digest"),
        max_length=64,
        blank=True,
        editable=False,
        help_text=_("SHA-256 of the credential's secret; the secret itself is never stored."),
    )
    credential_rotated_at = models.DateTimeField(
        _("credential issued at"),
        null=True,
        editable=False,
        help_text=_("When the current API credential was issued."),
    )
    shares_session_store = models.BooleanField(
        _("shares the hub's session store"),
        default=False,
        help_text=_(
            "The application runs on this project's session store (same database or Redis): "
            "its sessions are ended directly, without a back-channel call."
        ),
    )
    enabled = models.BooleanField(
        _("enabled"),
        default=True,
        help_text=_("A disabled application can neither use the API nor receive logouts."),
    )
    created_at = models.DateTimeField(
        _("created at"), auto_now_add=True, help_text=_("When the application was registered.")
    )

    objects = ApplicationQuerySet.as_manager()

    class Meta:
        verbose_name = _("application")
        verbose_name_plural = _("applications")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def rotate_credential(self) -> str:
        """Issue a new API credential (the old one stops working) and return it, in clear,
        for the only time. Saves the application when it already exists."""
        credential = generate_credential()
        self.credential_id = credential.key_id
        self.credential_digest = credential.digest
        self.credential_rotated_at = timezone.now()
        if self.pk is not None:
            self.save(update_fields=["credential_id", "credential_digest", "credential_rotated_at"])
        return credential.token

    @classmethod
    def authenticate(cls, token: str) -> Application | None:
        """The enabled application whose credential is ``token``, or None."""
        parts = split_credential(token)
        if parts is None:
            return None
        key_id, secret = parts
        application = cls.objects.enabled().filter(credential_id=key_id).first()
        if application is None or not secret_matches(secret, application.credential_digest):
            return None
        return application
