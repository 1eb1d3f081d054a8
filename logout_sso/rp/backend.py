"""The authentication backend: mozilla-django-oidc's, with what it leaves out.

It adds: the ID token's ``iss``, ``aud``, ``exp`` and ``iat`` checked; the IdP's keys cached in
the shared cache; the ID token's organization claim matched against the organization the login
was started for; no userinfo call when the ID token already carries the claims.
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest
from django.utils.translation import gettext as _
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from logout_sso.conf import app_settings
from logout_sso.internal.discovery import ProviderError, signing_key
from logout_sso.models import Organization
from logout_sso.rp.internal import oidc
from logout_sso.rp.internal.state import LoginAttempt

__all__ = ["LoginRejected", "OrganizationOIDCBackend"]

logger = logging.getLogger(__name__)

CLOCK_SKEW_SECONDS = 60
# Attribute of the request where the callback view finds what the backend verified.
VERIFIED_LOGIN = "logout_sso_verified_login"
PENDING_ATTEMPT = "logout_sso_login_attempt"


class LoginRejected(SuspiciousOperation):
    """The IdP's answer cannot be accepted; the message is safe to show the user."""


class OrganizationOIDCBackend(OIDCAuthenticationBackend):  # type: ignore[misc]
    """Use instead of ``mozilla_django_oidc.auth.OIDCAuthenticationBackend``."""

    request: HttpRequest

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return oidc.oidc_setting(attr, *args)

    def retrieve_matching_jwk(self, token: str) -> jwt.PyJWK:
        header = jwt.get_unverified_header(token)
        try:
            return signing_key(self.OIDC_OP_JWKS_ENDPOINT, header.get("kid"), header.get("alg", ""))
        except ProviderError as exc:
            raise LoginRejected(
                _("The identity provider's signing key is unavailable: %(reason)s")
                % {"reason": exc}
            ) from exc

    def _verify_jws(self, payload: str, key: Any) -> dict[str, Any]:
        algorithm = jwt.get_unverified_header(payload).get("alg")
        if algorithm != self.OIDC_RP_SIGN_ALGO:
            raise LoginRejected(
                _("The ID token is signed with %(algorithm)s, not %(expected)s.")
                % {"algorithm": repr(algorithm), "expected": repr(self.OIDC_RP_SIGN_ALGO)}
            )
        try:
            claims: dict[str, Any] = jwt.decode(
                payload,
                key,
                algorithms=[algorithm],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=oidc.issuer(),
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.InvalidTokenError as exc:
            raise LoginRejected(
                _("The ID token was rejected: %(reason)s.") % {"reason": exc}
            ) from exc
        return claims

    def get_userinfo(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """The ID token's claims when they are enough (no call: Auth0 allows 5 userinfo calls
        a minute per user), else the userinfo endpoint's, which must be about the same sub."""
        if self.verify_claims(payload):
            return payload
        userinfo: dict[str, Any] = super().get_userinfo(access_token, id_token, payload)
        if userinfo.get("sub") != payload["sub"]:
            raise LoginRejected(_("The userinfo response is about another user."))
        return {**userinfo, **payload}

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        claims: dict[str, Any] = super().verify_token(token, **kwargs)
        if "nonce" in kwargs:  # The ID token of a login (not a signed userinfo response).
            attempt: LoginAttempt | None = getattr(self.request, PENDING_ATTEMPT, None)
            if attempt is None:
                raise LoginRejected(_("This login was not started here."))
            self.check_organization(claims, attempt.organization_id)
        return claims

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        user = super().get_or_create_user(access_token, id_token, payload)
        if user is not None:
            setattr(self.request, VERIFIED_LOGIN, (payload, id_token))
        return user

    def check_organization(self, claims: dict[str, Any], organization_id: int) -> None:
        """The token's organization must be the one the login was for; a token naming an
        organization nobody asked for is refused too (Auth0's guidance)."""
        expected = (
            Organization.objects.filter(pk=organization_id)
            .values_list("idp_organization_id", flat=True)
            .first()
        ) or None
        actual = claims.get(app_settings.ORGANIZATION_CLAIM) or None
        if actual != expected:
            logger.warning(
                "Login refused: organization claim %r, expected %r (sub %r).",
                actual,
                expected,
                claims.get("sub"),
            )
            raise LoginRejected(
                _(
                    "The identity provider signed you in for another organization than the one "
                    "this login was for."
                )
            )
