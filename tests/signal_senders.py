"""An organization's identity provider as the inbound signals' tests see it (not tests
themselves), built from the specs rather than from logout_sso's code:

- :class:`SignalSender`: an IdP or Shared Signals transmitter with its own keys (RS256 and
  ES256), serving on loopback its JWKS (``/jwks``), its transmitter configuration
  (``/.well-known/ssf-configuration``, Shared Signals Framework 1.0 section 7.1) and, when a
  test gives it SETs to hold, an RFC 8936 poll endpoint (``/poll``) that records each request
  it gets (what it was acknowledged, ``setErrs``) and hands out what is not acknowledged yet.
- :func:`SignalSender.bearer`: a Universal Logout request's JWT (Okta's "Build Universal Logout
  for your app": ``iss``, ``aud`` the endpoint, ``iat``, ``exp``, ``jti``);
  :func:`SignalSender.security_event`: a SET (RFC 8417, ``typ: secevent+jwt``, ``sub_id`` at
  the top level, no ``exp``). Both signed with any header or claim overridden or deleted
  (``DELETE``), by ``tests.receiver_keys.sign`` (so ``none`` and HMAC can be sent too).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from tests.loopback import IncomingRequest, LoopbackServer, Reply, json_reply
from tests.receiver_keys import DELETE, SigningKey, _apply, b64url_decode, ec_key, rsa_key, sign

__all__ = [
    "DELETE",
    "SESSION_REVOKED",
    "VERIFICATION",
    "SignalSender",
    "email",
    "iss_sub",
]

SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
CREDENTIAL_CHANGE = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
ACCOUNT_DISABLED = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification"
JWKS_PATH = "/jwks"
CONFIGURATION_PATH = "/.well-known/ssf-configuration"
POLL_PATH = "/poll"

# Generated once per test run.
SENDER_RSA_KEY = rsa_key("sender-rsa")
SENDER_EC_KEY = ec_key("sender-ec")
#: Not published: what a forger signs with (same kid as the published RSA key).
FORGER_KEY = rsa_key("sender-rsa")


def iss_sub(iss: str, sub: str) -> dict[str, str]:
    return {"format": "iss_sub", "iss": iss, "sub": sub}


def email(address: str) -> dict[str, str]:
    return {"format": "email", "email": address}


class SignalSender:
    """An identity provider's endpoints on 127.0.0.1; its issuer is its URL."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = keys or (SENDER_RSA_KEY, SENDER_EC_KEY)
        self._lock = threading.Lock()
        self._waiting: dict[str, str] = {}
        self.poll_requests: list[dict[str, Any]] = []
        self._server = LoopbackServer(self._respond)
        self.issuer = self._server.url
        self.jwks_uri = f"{self.issuer}{JWKS_PATH}"
        self.poll_url = f"{self.issuer}{POLL_PATH}"
        self.requests = self._server.requests

    # --- what it serves ---------------------------------------------------------------

    def _respond(self, request: IncomingRequest) -> Reply:
        if request.path == JWKS_PATH:
            return json_reply({"keys": [key.jwk() for key in self.keys]})
        if request.path == CONFIGURATION_PATH:
            return json_reply(
                {
                    "issuer": self.issuer,
                    "jwks_uri": self.jwks_uri,
                    "delivery_methods_supported": ["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"],
                }
            )
        if request.path == POLL_PATH and request.method == "POST":
            return self._poll(request)
        return Reply(404)

    def _poll(self, request: IncomingRequest) -> Reply:
        """RFC 8936 section 2.4: acknowledged and refused SETs are forgotten; up to maxEvents
        of the others are returned."""
        if request.headers.get("Authorization") != f"Bearer {self.management_token}":
            return Reply(401)
        body = json.loads(request.body)
        with self._lock:
            self.poll_requests.append(body)
            for jti in [*body.get("ack", []), *body.get("setErrs", {})]:
                self._waiting.pop(jti, None)
            wanted = body.get("maxEvents", 10)
            handed = dict(list(self._waiting.items())[:wanted])
            more = len(self._waiting) > len(handed)
        return json_reply({"sets": handed, "moreAvailable": more})

    management_token = "transmitter-management-token"

    def hold(self, *tokens: str) -> None:
        """SETs waiting for the receiver to poll them, by their jti."""
        with self._lock:
            for token in tokens:
                claims = json.loads(_segment(token, 1))
                self._waiting[claims["jti"]] = token

    @property
    def waiting(self) -> list[str]:
        with self._lock:
            return list(self._waiting)

    def close(self) -> None:
        self._server.close()

    # --- what it signs ----------------------------------------------------------------

    def _sign(
        self,
        header: dict[str, Any],
        claims: dict[str, Any],
        header_overrides: Mapping[str, Any] | None,
        claims_overrides: Mapping[str, Any] | None,
        key: SigningKey | None,
    ) -> str:
        key = key or self.keys[0]
        header = _apply({"alg": key.alg, "kid": key.kid, **header}, header_overrides)
        return sign(header, _apply(claims, claims_overrides), key, header.get("alg", key.alg))

    def bearer(
        self,
        audience: Any,
        claims: Mapping[str, Any] | None = None,
        header: Mapping[str, Any] | None = None,
        *,
        key: SigningKey | None = None,
    ) -> str:
        """A Universal Logout request's signed JWT for ``audience`` (the endpoint's URL)."""
        now = int(time.time())
        base = {
            "iss": self.issuer,
            "aud": audience,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        return self._sign({"typ": "JWT"}, base, header, claims, key)

    def security_event(
        self,
        audience: Any,
        events: Mapping[str, Any],
        sub_id: Any = None,
        claims: Mapping[str, Any] | None = None,
        header: Mapping[str, Any] | None = None,
        *,
        key: SigningKey | None = None,
    ) -> str:
        """A SET for ``audience`` carrying ``events`` about ``sub_id``."""
        base: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "iat": int(time.time()),
            "jti": uuid.uuid4().hex,
            "events": dict(events),
        }
        if sub_id is not None:
            base["sub_id"] = sub_id
        return self._sign({"typ": "secevent+jwt"}, base, header, claims, key)


def _segment(token: str, index: int) -> bytes:
    return b64url_decode(token.split(".")[index])
