"""Validation of logout tokens, to the letter of OpenID Connect Back-Channel Logout 1.0 (2.4, 2.6).

PyJWT checks the signature, ``iss``, ``aud``, ``exp`` and ``iat``; the rules of logout tokens
(the event, ``sid``/``sub``, no ``nonce``, a ``jti``) are written here. Every failure is an
:class:`InvalidLogoutToken` whose message can be shown to the sender; a provider that cannot be
reached is a :class:`~logout_sso.internal.discovery.ProviderError`. A replayed ``jti`` is refused
when the logout is recorded (:mod:`logout_sso.receiver.internal.logouts`), in the same
transaction as its effect, so that a token whose effect did not happen can be sent again.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt

from logout_sso.conf import app_settings
from logout_sso.constants import BACKCHANNEL_LOGOUT_EVENT
from logout_sso.internal.discovery import KeyNotFound, signing_key
from logout_sso.internal.jwt_failures import failure_reason
from logout_sso.internal.validators import is_plain_text
from logout_sso.receiver.internal.issuers import jwks_uri, trusted_issuers

#: The size of the sub and sid columns of LocalSession and LogoutEvent: no session can have a
#: longer one, and recording it would fail (PostgreSQL: DataError, a 500).
MAX_SUB_SID_LENGTH = 255


class Refusal(StrEnum):
    """Why a back-channel logout was refused, as a bounded code (the ``reason`` of the metric
    ``logout_sso_backchannel_logout_tokens_total``): never the message, which quotes the
    sender's input."""

    INVALID_REQUEST = "invalid_request"  # Not one form-encoded logout_token (before any JWT).
    MALFORMED = "malformed"  # Not a JWT.
    UNTRUSTED_ISSUER = "untrusted_issuer"
    ALGORITHM_NOT_ACCEPTED = "algorithm_not_accepted"
    UNKNOWN_KEY = "unknown_key"  # No key of the issuer's JWKS fits the kid and algorithm.
    INVALID_SIGNATURE = "invalid_signature"
    WRONG_AUDIENCE = "wrong_audience"
    EXPIRED = "expired"  # exp passed, or iat older than LOGOUT_TOKEN_MAX_AGE.
    NOT_YET_VALID = "not_yet_valid"  # iat or nbf in the future.
    MISSING_CLAIM = "missing_claim"
    INVALID_CLAIMS = "invalid_claims"  # A rule of Back-Channel Logout 1.0 (2.4, 2.6) broken.
    REPLAYED = "replayed"  # Its jti was already acted on.
    KEYS_UNAVAILABLE = "keys_unavailable"  # The issuer's keys cannot be fetched (503).


class InvalidLogoutToken(Exception):
    """The logout token must be refused (HTTP 400); the message says why, ``reason`` in a
    word."""

    def __init__(self, message: str, reason: Refusal = Refusal.INVALID_CLAIMS) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class LogoutToken:
    """The claims of a valid logout token that say what to end."""

    issuer: str  # Of the sessions to end: the token's, or the IdP a hub speaks for.
    sub: str
    sid: str
    #: A digest of the token's ``iss`` and ``jti``: what tells a replay.
    token_id: str


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        return jwt.get_unverified_header(token), jwt.decode(
            token, options={"verify_signature": False}
        )
    except jwt.PyJWTError as exc:
        raise InvalidLogoutToken(
            f"The logout token is not a JWT: {exc}", Refusal.MALFORMED
        ) from exc


def _non_empty_string(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name, "")
    if not isinstance(value, str):
        raise InvalidLogoutToken(f"The {name} claim must be a string.")
    return value


def validate(token: str) -> LogoutToken:
    """The logout token's identity claims, once every rule holds."""
    header, unverified = _unverified(token)
    iss = unverified.get("iss")
    issuer = trusted_issuers().get(iss) if isinstance(iss, str) else None
    if issuer is None:
        raise InvalidLogoutToken(
            f"The issuer {unverified.get('iss')!r} is not trusted.", Refusal.UNTRUSTED_ISSUER
        )
    algorithm = header.get("alg")
    if algorithm not in issuer.algorithms:
        raise InvalidLogoutToken(
            f"The algorithm {algorithm!r} is not accepted for {issuer.issuer} "
            f"(accepted: {', '.join(issuer.algorithms)}).",
            Refusal.ALGORITHM_NOT_ACCEPTED,
        )
    try:
        key = signing_key(jwks_uri(issuer), header.get("kid"), algorithm)
    except KeyNotFound as exc:
        raise InvalidLogoutToken(str(exc), Refusal.UNKNOWN_KEY) from exc
    skew = app_settings.LOGOUT_TOKEN_CLOCK_SKEW
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=issuer.audience,
            issuer=issuer.issuer,
            leeway=skew,
            options={"require": ["iss", "aud", "iat", "jti", "events"]},
        )
    except jwt.PyJWTError as exc:
        reason = Refusal(failure_reason(exc, Refusal.INVALID_CLAIMS))
        raise InvalidLogoutToken(f"The logout token was rejected: {exc}.", reason) from exc
    _check_rules(claims)
    return LogoutToken(
        issuer=issuer.sessions_issuer,
        sub=_non_empty_string(claims, "sub"),
        sid=_non_empty_string(claims, "sid"),
        token_id=hashlib.sha256(f"{claims['iss']}\n{claims['jti']}".encode()).hexdigest(),
    )


def _check_rules(claims: dict[str, Any]) -> None:
    """Back-Channel Logout 1.0, 2.4 and 2.6, beyond what PyJWT checked."""
    if not isinstance(claims["iat"], int | float) or isinstance(claims["iat"], bool):
        raise InvalidLogoutToken("The iat claim must be a number.")
    if "exp" in claims and (
        not isinstance(claims["exp"], int | float) or isinstance(claims["exp"], bool)
    ):
        raise InvalidLogoutToken("The exp claim must be a number.")
    if claims["iat"] < time.time() - app_settings.LOGOUT_TOKEN_MAX_AGE:
        raise InvalidLogoutToken("The logout token is too old (iat).", Refusal.EXPIRED)
    events = claims["events"]
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise InvalidLogoutToken(
            f"The events claim must be an object whose member {BACKCHANNEL_LOGOUT_EVENT} is "
            "a JSON object."
        )
    sub, sid = _non_empty_string(claims, "sub"), _non_empty_string(claims, "sid")
    if not sub and not sid:
        raise InvalidLogoutToken("The logout token names neither a sub nor a sid.")
    if max(len(sub), len(sid)) > MAX_SUB_SID_LENGTH:
        raise InvalidLogoutToken(
            f"The sub and sid claims must be at most {MAX_SUB_SID_LENGTH} characters."
        )
    if not (is_plain_text(sub) and is_plain_text(sid)):
        raise InvalidLogoutToken("The sub and sid claims must be printable text.")
    if "nonce" in claims:
        raise InvalidLogoutToken("A logout token must not contain a nonce.")
    if not isinstance(claims["jti"], str) or not claims["jti"]:
        raise InvalidLogoutToken("The jti claim must be a non-empty string.")
    if not is_plain_text(claims["jti"]):
        raise InvalidLogoutToken("The jti claim must be printable text.")
