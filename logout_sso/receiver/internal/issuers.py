"""The issuers whose logout tokens this project accepts, and where their keys are."""

from __future__ import annotations

from django.conf import settings

from logout_sso.conf import ASYMMETRIC_ALGORITHMS, TrustedIssuer, app_settings
from logout_sso.internal.discovery import ProviderError, provider_metadata


def trusted_issuers() -> dict[str, TrustedIssuer]:
    """``LOGOUT_SSO["TRUSTED_ISSUERS"]`` plus the IdP mozilla-django-oidc signs users in with
    (``OIDC_OP_ISSUER``; audience ``OIDC_RP_CLIENT_ID``; its ``OIDC_RP_SIGN_ALGO``, RS256 unless
    that is an asymmetric algorithm), by issuer identifier."""
    issuers = {issuer.issuer: issuer for issuer in app_settings.TRUSTED_ISSUERS}
    own = getattr(settings, "OIDC_OP_ISSUER", None)
    client_id = getattr(settings, "OIDC_RP_CLIENT_ID", None)
    if own and client_id and own not in issuers:
        algorithm = getattr(settings, "OIDC_RP_SIGN_ALGO", "RS256")
        issuers[own] = TrustedIssuer(
            issuer=own,
            audience=client_id,
            jwks_uri=getattr(settings, "OIDC_OP_JWKS_ENDPOINT", None),
            algorithms=(algorithm if algorithm in ASYMMETRIC_ALGORITHMS else "RS256",),
        )
    return issuers


def jwks_uri(issuer: TrustedIssuer) -> str:
    """The configured ``jwks_uri``, else the one of the issuer's discovery document."""
    if issuer.jwks_uri:
        return issuer.jwks_uri
    uri = provider_metadata(issuer.issuer).get("jwks_uri")
    if not isinstance(uri, str) or not uri:
        raise ProviderError(f"The discovery document of {issuer.issuer} has no jwks_uri.")
    return uri
