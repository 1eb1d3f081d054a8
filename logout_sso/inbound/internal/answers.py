"""How a refused signal is answered: its HTTP status (Universal Logout) or its error code
(Shared Signals, RFC 8935 section 2.4 for push, RFC 8936 section 2.4.4 for poll)."""

from __future__ import annotations

from logout_sso.inbound.internal.tokens import Refusal

#: Universal Logout: the status of each refusal that is not an authentication failure (401).
REVOCATION_STATUS = {
    Refusal.INVALID_REQUEST: 400,
    Refusal.UNSUPPORTED_SUBJECT: 400,
    Refusal.USER_NOT_FOUND: 404,
}
#: Shared Signals push: RFC 8935 section 2.4's error code of each refusal.
SET_ERROR = {
    Refusal.ALGORITHM_NOT_ACCEPTED: "invalid_key",
    Refusal.UNKNOWN_KEY: "invalid_key",
    Refusal.INVALID_SIGNATURE: "authentication_failed",
    Refusal.UNTRUSTED_ISSUER: "invalid_issuer",
    Refusal.WRONG_AUDIENCE: "invalid_audience",
    Refusal.INVALID_STATE: "invalid_state",
}


def set_error(reason: Refusal) -> str:
    """The ``err`` code (RFC 8935 section 2.4, RFC 8936 section 2.4.4) of a refused SET."""
    return SET_ERROR.get(reason, "invalid_request")
