"""Builders of the identity provider's logout URL (``LOGOUT_SSO["LOGOUT_URL_BUILDER"]``).

- :class:`OIDCLogoutURLBuilder`: OpenID Connect RP-Initiated Logout 1.0, at the provider's
  ``end_session_endpoint`` (``LOGOUT_SSO["END_SESSION_ENDPOINT"]``, else discovered from
  ``OIDC_OP_ISSUER``). The standard has no way to end an upstream IdP's session: with it,
  federated logout is up to the provider's own configuration.
- :class:`Auth0LogoutURLBuilder`: Auth0's ``/oidc/logout``, plus ``federated`` when the
  organization's policy asks for federated logout.
- :class:`Auth0V2LogoutURLBuilder`: Auth0's older ``/v2/logout`` (``returnTo``, ``federated``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from logout_sso.conf import app_settings
from logout_sso.internal.discovery import provider_metadata
from logout_sso.rp.internal import oidc

__all__ = [
    "Auth0LogoutURLBuilder",
    "Auth0V2LogoutURLBuilder",
    "LogoutRequest",
    "OIDCLogoutURLBuilder",
    "logout_url",
]


@dataclass(frozen=True)
class LogoutRequest:
    """What the IdP's logout URL is built from."""

    id_token: str
    client_id: str
    post_logout_redirect_uri: str
    federated: bool


def _with_query(endpoint: str, params: dict[str, str]) -> str:
    separator = "&" if urlsplit(endpoint).query else "?"
    return f"{endpoint}{separator}{urlencode(params)}"


class OIDCLogoutURLBuilder:
    """Generic OpenID Connect RP-Initiated Logout."""

    def endpoint(self) -> str:
        configured = app_settings.END_SESSION_ENDPOINT
        if configured:
            return configured
        endpoint = provider_metadata(oidc.issuer()).get("end_session_endpoint")
        if not endpoint:
            raise LookupError(
                "The provider's discovery document has no end_session_endpoint; set "
                'LOGOUT_SSO["END_SESSION_ENDPOINT"].'
            )
        return str(endpoint)

    def params(self, request: LogoutRequest) -> dict[str, str]:
        return {
            "id_token_hint": request.id_token,
            "client_id": request.client_id,
            "post_logout_redirect_uri": request.post_logout_redirect_uri,
        }

    def build(self, request: LogoutRequest) -> str:
        return _with_query(self.endpoint(), self.params(request))


class Auth0LogoutURLBuilder(OIDCLogoutURLBuilder):
    """Auth0's OIDC-conformant logout, asking it to log out of the upstream IdP too when the
    organization's policy says federated."""

    path = "oidc/logout"

    def endpoint(self) -> str:
        return app_settings.END_SESSION_ENDPOINT or oidc.issuer().rstrip("/") + "/" + self.path

    def params(self, request: LogoutRequest) -> dict[str, str]:
        params = super().params(request)
        if request.federated:
            params["federated"] = ""
        return params


class Auth0V2LogoutURLBuilder(Auth0LogoutURLBuilder):
    """Auth0's ``/v2/logout`` endpoint."""

    path = "v2/logout"

    def params(self, request: LogoutRequest) -> dict[str, str]:
        params = {"client_id": request.client_id, "returnTo": request.post_logout_redirect_uri}
        if request.federated:
            params["federated"] = ""
        return params


def logout_url(request: LogoutRequest) -> str:
    """The IdP logout URL, by the configured builder."""
    builder: OIDCLogoutURLBuilder = app_settings.LOGOUT_URL_BUILDER()
    return builder.build(request)
