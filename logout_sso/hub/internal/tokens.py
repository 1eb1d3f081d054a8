"""Logout tokens the hub signs: OpenID Connect Back-Channel Logout 1.0, section 2.4."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt
from django.core.exceptions import ImproperlyConfigured

from logout_sso.conf import app_settings
from logout_sso.constants import BACKCHANNEL_LOGOUT_EVENT, LOGOUT_TOKEN_TYPE
from logout_sso.hub.internal.keys import SigningKey, active_key

#: Short, as the spec's errata advise: a token is signed per attempt, never stored.
TOKEN_LIFETIME_SECONDS = 120


def hub_issuer() -> str:
    issuer = app_settings.HUB_ISSUER
    if not issuer:
        raise ImproperlyConfigured('Set LOGOUT_SSO["HUB_ISSUER"], the issuer URL of the hub.')
    return issuer


@dataclass(frozen=True)
class LogoutTokenSigner:
    """Signs logout tokens as the hub: its issuer and active key, read from the settings once
    (:func:`current_signer`) for a whole batch of tokens."""

    issuer: str
    key: SigningKey

    def sign(self, *, audience: str, sub: str, sid: str) -> str:
        """A fresh logout token for one application (``sub`` and/or ``sid``)."""
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": self.issuer,
            "aud": audience,
            "iat": now,
            "exp": now + TOKEN_LIFETIME_SECONDS,
            "jti": secrets.token_urlsafe(18),
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        }
        if sub:
            claims["sub"] = sub
        if sid:
            claims["sid"] = sid
        return jwt.encode(
            claims,
            self.key.private_key,
            algorithm=self.key.algorithm,
            headers={"typ": LOGOUT_TOKEN_TYPE, "kid": self.key.kid},
        )


def current_signer() -> LogoutTokenSigner:
    """The signer the settings describe now."""
    return LogoutTokenSigner(issuer=hub_issuer(), key=active_key())


def sign_logout_token(*, audience: str, sub: str, sid: str) -> str:
    """A fresh logout token for one application, signed with the current settings."""
    return current_signer().sign(audience=audience, sub=sub, sid=sid)
