"""The checks every inbound signal passes: a JWT signed by one of the organization's sources.

A Universal Logout request carries one as its bearer credential (Okta's "Build Universal Logout
for your app", endpoint authentication), a Shared Signals event is one (a Security Event Token,
RFC 8417, explicitly typed ``secevent+jwt`` as Shared Signals Framework 1.0 section 4.1.1 asks).
The source is chosen among the organization's by the token's ``iss``; PyJWT checks the
signature with the source's published keys, ``iss``, ``aud``, ``exp`` when present, ``iat``;
the age and the ``jti`` are checked here. The ``jti`` is recorded by the caller with the
signal's effect (:mod:`.received`), so that a replay is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt

from logout_sso.conf import app_settings
from logout_sso.inbound.internal.sources import jwks_uri, public_only
from logout_sso.internal.discovery import KeyNotFound, signing_key
from logout_sso.internal.jwt_failures import failure_reason
from logout_sso.internal.validators import is_plain_text
from logout_sso.models import SignalSource

#: Asymmetric algorithms only: never ``none``, never HMAC (a public key is no secret).
ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
#: A Security Event Token's ``typ`` (RFC 8417 section 2.3), compared without regard to case.
SET_TYPES = ("secevent+jwt", "application/secevent+jwt")
#: A jti longer than this is refused (it is stored as a digest, but logged).
MAX_JTI_LENGTH = 255


class Refusal(StrEnum):
    """Why an inbound signal was refused, as a bounded code (the ``reason`` of the metric
    ``logout_sso_inbound_signals_total``): never the message, which quotes the sender's input."""

    INVALID_REQUEST = "invalid_request"  # Not the request the endpoint takes (before any JWT).
    MISSING_CREDENTIAL = "missing_credential"  # Universal Logout: no bearer JWT.
    MALFORMED = "malformed"  # Not a JWT, or a SET without its typ.
    UNTRUSTED_ISSUER = "untrusted_issuer"  # No enabled source of the organization has it.
    ALGORITHM_NOT_ACCEPTED = "algorithm_not_accepted"
    UNKNOWN_KEY = "unknown_key"
    INVALID_SIGNATURE = "invalid_signature"
    WRONG_AUDIENCE = "wrong_audience"
    EXPIRED = "expired"  # exp passed, or iat older than SIGNAL_MAX_AGE.
    NOT_YET_VALID = "not_yet_valid"
    MISSING_CLAIM = "missing_claim"
    INVALID_CLAIMS = "invalid_claims"
    REPLAYED = "replayed"
    KEYS_UNAVAILABLE = "keys_unavailable"  # The source's keys cannot be fetched (503).
    UNSUPPORTED_SUBJECT = "unsupported_subject"
    USER_NOT_FOUND = "user_not_found"  # Universal Logout: nobody of the organization (404).
    INVALID_STATE = "invalid_state"  # A verification event with another state than asked.


class SignalRefused(Exception):
    """The signal must be refused; the message says why (it may quote the sender's input:
    escape it before logging), ``reason`` in a word."""

    def __init__(self, message: str, reason: Refusal) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Verified:
    """A token whose signature and claims hold, and the source that sent it."""

    source: SignalSource
    claims: dict[str, Any]

    @property
    def jti(self) -> str:
        jti: str = self.claims["jti"]
        return jti


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise SignalRefused(f"Not a JWT: {exc}", Refusal.MALFORMED) from exc
    if not isinstance(claims, dict):
        raise SignalRefused("The JWT's claims are not a JSON object.", Refusal.MALFORMED)
    return header, claims


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def verify(
    token: str,
    sources: Sequence[SignalSource],
    audience: Callable[[SignalSource], str],
    *,
    security_event: bool,
) -> Verified:
    """Check ``token`` as sent by one of ``sources`` (the one of its ``iss``), addressed to
    ``audience(source)``. ``security_event``: a SET (``typ`` required, ``events`` required,
    ``exp`` optional); else a bearer JWT (``exp`` required)."""
    header, unverified = _unverified(token)
    if security_event and str(header.get("typ", "")).lower() not in SET_TYPES:
        raise SignalRefused("A Security Event Token's typ must be secevent+jwt.", Refusal.MALFORMED)
    iss = unverified.get("iss")
    source = next((source for source in sources if source.issuer == iss), None)
    if source is None:
        raise SignalRefused(
            "The issuer is not a source of this organization.", Refusal.UNTRUSTED_ISSUER
        )
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise SignalRefused(
            f"The algorithm must be one of {', '.join(ALGORITHMS)}.",
            Refusal.ALGORITHM_NOT_ACCEPTED,
        )
    kid = header.get("kid")
    try:
        key = signing_key(
            jwks_uri(source), kid if isinstance(kid, str) else None, algorithm, public_only
        )
    except KeyNotFound as exc:
        raise SignalRefused(str(exc), Refusal.UNKNOWN_KEY) from exc
    required = ["iss", "aud", "iat", "jti", *(["events"] if security_event else ["exp"])]
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience(source),
            issuer=source.issuer,
            leeway=app_settings.LOGOUT_TOKEN_CLOCK_SKEW,
            options={"require": required, "strict_aud": False},
        )
    except jwt.PyJWTError as exc:
        reason = Refusal(failure_reason(exc, Refusal.INVALID_CLAIMS))
        raise SignalRefused(f"The token was rejected: {exc}.", reason) from exc
    _check_claims(claims)
    return Verified(source, claims)


def _check_claims(claims: dict[str, Any]) -> None:
    """What PyJWT leaves: ``iat`` a number and recent, ``jti`` a short printable string."""
    if not _is_number(claims["iat"]):
        raise SignalRefused("The iat claim must be a number.", Refusal.INVALID_CLAIMS)
    if claims["iat"] < time.time() - app_settings.SIGNAL_MAX_AGE:
        raise SignalRefused("The token is too old (iat).", Refusal.EXPIRED)
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise SignalRefused(
            f"The jti claim must be a string of 1 to {MAX_JTI_LENGTH} characters.",
            Refusal.INVALID_CLAIMS,
        )
    if not is_plain_text(jti):
        raise SignalRefused("The jti claim must be printable text.", Refusal.INVALID_CLAIMS)
