"""Customer organizations, their email domains and their logout policy."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from logout_sso.internal.validators import split_lines, validate_secure_url_lines

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

logger = logging.getLogger(__name__)

MIN_SESSION_TTL = 60
MAX_SESSION_TTL = 24 * 60 * 60
MAX_SHORT_LIVED_TTL = 15 * 60

validate_domain = RegexValidator(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
    _("Enter a lower-case domain name such as example.com, without @ or scheme."),
    code="invalid_domain",
)


class OrganizationQuerySet(models.QuerySet["Organization"]):
    def administered_by(self, user: AbstractBaseUser | AnonymousUser) -> OrganizationQuerySet:
        """The organizations ``user`` may manage: all for a superuser, else those listing them."""
        if getattr(user, "is_superuser", False):
            return self.all()
        if not user.is_authenticated:
            return self.none()
        return self.filter(admins=user.pk)

    def by_identifier(self, identifier: str) -> Organization | None:
        """The one organization whose slug or IdP organization id is ``identifier``, or None.

        Both fields are one namespace (see :meth:`Organization.clean`); should the database
        ever hold a value in both fields of two organizations (rows written around the
        validation), the lookup matches nobody rather than whichever row comes first.
        """
        if not identifier:
            return None
        matches = list(
            self.filter(Q(slug=identifier) | Q(idp_organization_id=identifier)).order_by("pk")[:2]
        )
        if len(matches) > 1:
            logger.error(
                "Organizations %s and %s share the identifier %r: neither is chosen.",
                matches[0].pk,
                matches[1].pk,
                identifier,
            )
            return None
        return matches[0] if matches else None

    def identifier_taken(self, identifier: str, *, by_other_than: int | None) -> bool:
        """Whether another organization than ``by_other_than`` uses ``identifier`` as its slug
        or IdP organization id."""
        others = self.exclude(pk=by_other_than) if by_other_than is not None else self.all()
        return others.filter(Q(slug=identifier) | Q(idp_organization_id=identifier)).exists()


class Organization(models.Model):
    """A customer of the SaaS, with its own identity provider and logout expectations."""

    name = models.CharField(
        _("name"),
        max_length=200,
        unique=True,
        help_text=_("The customer's name, as admins know it."),
    )
    slug = models.SlugField(
        _("slug"),
        max_length=100,
        unique=True,
        help_text=_("Short identifier used in URLs, e.g. /sso/login/?organization=acme."),
    )
    idp_organization_id = models.CharField(
        _("IdP organization id"),
        max_length=200,
        blank=True,
        help_text=_(
            "The organization's id at the identity provider (Auth0: org_...), sent as the "
            "'organization' parameter of the login request and expected in the ID token."
        ),
    )
    connection = models.CharField(
        _("enterprise connection"),
        max_length=200,
        blank=True,
        help_text=_("The identity provider's name for the organization's own IdP connection."),
    )
    auto_forward = models.BooleanField(
        _("auto-forward to the enterprise connection"),
        default=False,
        help_text=_(
            "Send users straight to the organization's own IdP (the 'connection' parameter) "
            "instead of showing the identity provider's login page."
        ),
    )
    admins = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("admins"),
        blank=True,
        related_name="logout_sso_organizations",
        help_text=_(
            "Staff users who may manage this organization, its applications, sessions and "
            "logout events in the admin."
        ),
    )
    hub_id = models.PositiveBigIntegerField(
        _("id at the hub"),
        null=True,
        blank=True,
        unique=True,
        editable=False,
        help_text=_(
            "Client mode: the organization's id at the hub this project mirrors it from. Its "
            "identity and logout policy are then managed at the hub, read-only here."
        ),
    )
    hub_admin_url = models.URLField(
        _("page at the hub"),
        max_length=500,
        blank=True,
        editable=False,
        help_text=_("Client mode: where the hub's admin edits this organization."),
    )
    created_at = models.DateTimeField(
        _("created at"), auto_now_add=True, help_text=_("When the organization was added.")
    )
    updated_at = models.DateTimeField(
        _("updated at"), auto_now=True, help_text=_("When the organization was last changed.")
    )

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["idp_organization_id"],
                condition=~Q(idp_organization_id=""),
                name="logout_sso_org_unique_idp_id",
                violation_error_message=_(
                    "Another organization already has this IdP organization id."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_mirrored(self) -> bool:
        """Whether this project mirrors the organization from its hub (client mode)."""
        return self.hub_id is not None

    def clean(self) -> None:
        errors: dict[str, ValidationError] = {}
        if self.auto_forward and not self.connection:
            errors["auto_forward"] = ValidationError(
                _("Auto-forward needs an enterprise connection to forward to."),
                code="no_connection",
            )
        # A slug and an IdP organization id name organizations in the same places (the login
        # link, the session API): a value is one organization's, whichever field holds it.
        for field in ("slug", "idp_organization_id"):
            value = getattr(self, field)
            if value and Organization.objects.identifier_taken(value, by_other_than=self.pk):
                errors[field] = ValidationError(
                    _(
                        "%(value)s is already the slug or IdP organization id of another "
                        "organization: each value names one organization."
                    ),
                    code="identifier_taken",
                    params={"value": value},
                )
        if errors:
            raise ValidationError(errors)


class EmailDomain(models.Model):
    """An email domain whose users belong to an organization (used to find it at login)."""

    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="email_domains",
        verbose_name=_("organization"),
        help_text=_("The organization whose users have this email domain."),
    )
    domain = models.CharField(
        _("domain"),
        max_length=253,
        unique=True,
        validators=[validate_domain],
        help_text=_("Users whose email ends in @<domain> belong to this organization."),
    )

    class Meta:
        verbose_name = _("email domain")
        verbose_name_plural = _("email domains")
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain

    def clean(self) -> None:
        self.domain = self.domain.strip().lower()


class SLOMode(models.TextChoices):
    NONE = "none", _("None: log out of this application only")
    SHORT_LIVED_TOKENS = "short_lived_tokens", _("Short-lived tokens: silent re-check after TTL")
    LOGOUT_SERVICE = "logout_service", _("Logout service: back-channel logout to every app")


class LogoutPolicyQuerySet(models.QuerySet["LogoutPolicy"]):
    def defeating_single_logout(self) -> LogoutPolicyQuerySet:
        """Policies in the auto-forward trap (see :attr:`LogoutPolicy.defeats_single_logout`)."""
        return self.filter(
            organization__auto_forward=True,
            slo_mode=SLOMode.SHORT_LIVED_TOKENS,
            federated_logout=False,
        )


class LogoutPolicy(models.Model):
    """How logging out behaves for one organization; created with defaults with it."""

    organization = models.OneToOneField(
        Organization,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="logout_policy",
        verbose_name=_("organization"),
        help_text=_("The organization this policy applies to."),
    )
    federated_logout = models.BooleanField(
        _("federated logout"),
        default=False,
        help_text=_(
            "Also end the session at the organization's own IdP on logout. Off for most "
            "B2B customers, whose IdP session is their working day."
        ),
    )
    slo_mode = models.CharField(
        _("Single Logout mode"),
        max_length=32,
        choices=SLOMode.choices,
        default=SLOMode.SHORT_LIVED_TOKENS,
        help_text=_(
            "How a logout in one application reaches the others: not at all, by a silent "
            "re-check with the IdP after the session TTL, or by back-channel logout calls."
        ),
    )
    session_ttl = models.PositiveIntegerField(
        _("session TTL (seconds)"),
        default=600,
        validators=[MinValueValidator(MIN_SESSION_TTL), MaxValueValidator(MAX_SESSION_TTL)],
        help_text=_(
            "How long a local session is trusted before the next user action re-checks it "
            "silently with the IdP: 60 s to 24 h, at most 15 min with short-lived tokens."
        ),
    )
    post_logout_redirect_uris = models.TextField(
        _("post-logout redirect URIs"),
        blank=True,
        validators=[validate_secure_url_lines],
        help_text=_(
            "One URL per line where users may be sent after logging out: absolute https "
            "URLs (http only for localhost). Anything else falls back to the default page."
        ),
    )
    delivery_max_attempts = models.PositiveSmallIntegerField(
        _("delivery attempts"),
        default=12,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text=_(
            "How many times a back-channel logout is tried per application before it is "
            "marked failed. The default, with the backoff below, keeps trying for about "
            "half an hour."
        ),
    )
    delivery_backoff_seconds = models.PositiveIntegerField(
        _("first retry delay (seconds)"),
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(3600)],
        help_text=_("Delay before the first retry; each later retry doubles it, with jitter."),
    )
    delivery_backoff_max_seconds = models.PositiveIntegerField(
        _("longest retry delay (seconds)"),
        default=300,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60 * 60)],
        help_text=_("Upper bound of the delay between two attempts."),
    )
    updated_at = models.DateTimeField(
        _("updated at"), auto_now=True, help_text=_("When the policy was last changed.")
    )

    objects = LogoutPolicyQuerySet.as_manager()

    class Meta:
        verbose_name = _("logout policy")
        verbose_name_plural = _("logout policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(session_ttl__gte=MIN_SESSION_TTL, session_ttl__lte=MAX_SESSION_TTL),
                name="logout_sso_policy_ttl_range",
                violation_error_message=_("The session TTL must be between 60 s and 24 h."),
            ),
            models.CheckConstraint(
                condition=~Q(slo_mode=SLOMode.SHORT_LIVED_TOKENS)
                | Q(session_ttl__lte=MAX_SHORT_LIVED_TTL),
                name="logout_sso_policy_short_lived_ttl",
                violation_error_message=_(
                    "With short-lived tokens the session TTL must be at most 15 minutes "
                    "(900 s): a longer TTL leaves users signed in long after they logged out "
                    "elsewhere."
                ),
            ),
            models.CheckConstraint(
                condition=Q(delivery_backoff_max_seconds__gte=models.F("delivery_backoff_seconds")),
                name="logout_sso_policy_backoff_order",
                violation_error_message=_(
                    "The longest retry delay cannot be shorter than the first retry delay."
                ),
            ),
        ]

    def __str__(self) -> str:
        # The admin's inline heading reads "Logout policy: Acme".
        return str(self.organization)

    @property
    def post_logout_redirect_uri_list(self) -> list[str]:
        """The allowlisted post-logout redirect URIs, one per non-blank line."""
        return split_lines(self.post_logout_redirect_uris)

    @property
    def defeats_single_logout(self) -> bool:
        """True in the known trap: the silent re-check succeeds at the organization's own IdP.

        With auto-forward, the IdP sends the silent re-check on to the customer's IdP, whose
        session outlives the logout unless federated logout ends it too.
        """
        return (
            self.organization.auto_forward
            and self.slo_mode == SLOMode.SHORT_LIVED_TOKENS
            and not self.federated_logout
        )
