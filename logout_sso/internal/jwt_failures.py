"""What PyJWT's failures mean, in a word: the reasons the receiver and the inbound signals give
a refused token (their ``Refusal`` enums share these values)."""

from __future__ import annotations

import jwt

#: Most specific first (subclasses before their bases).
PYJWT_FAILURES: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidSignatureError, "invalid_signature"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.InvalidIssuerError, "untrusted_issuer"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.DecodeError, "malformed"),
)


def failure_reason(exc: jwt.PyJWTError, otherwise: str) -> str:
    """The word for PyJWT's ``exc``; ``otherwise`` for a failure not in the table."""
    return next((word for error, word in PYJWT_FAILURES if isinstance(exc, error)), otherwise)
