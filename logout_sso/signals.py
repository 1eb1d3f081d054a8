"""Signals logout_sso sends, for integrators to connect to. Sent with ``sender`` and keywords."""

from __future__ import annotations

from django.dispatch import Signal

__all__ = [
    "delivery_failed",
    "logout_recorded",
    "sessions_terminated",
    "signed_in",
    "tracked_sessions_expired",
]

#: Sent after the hub marked tracked sessions whose expiry passed as ended.
#: Arguments: ``sender`` (the TrackedSession model), ``count`` (how many were ended).
tracked_sessions_expired = Signal()

#: Sent after a logout was recorded (RP-initiated, silent re-check failed, IdP back-channel),
#: once the local session has ended. The hub connects here to fan the logout out to the other
#: applications. Arguments: ``sender`` (the LogoutEvent model), ``event`` (the LogoutEvent),
#: ``session_key`` (of the session that ended, or None when several did).
logout_recorded = Signal()

#: Sent after a user signed in through OpenID Connect (or passed a silent re-check).
#: Arguments: ``sender`` (the CallbackView class), ``request``, ``session_key``, ``issuer``,
#: ``sub``, ``sid``, ``organization_id``.
signed_in = Signal()

#: Sent after a back-channel logout ended local sessions (none, if they were already gone).
#: Arguments: ``sender`` (the LogoutEvent model), ``issuer``, ``sub`` and ``sid`` (empty string
#: when the token had none), ``count`` (sessions ended).
sessions_terminated = Signal()

#: Sent after the hub gave up on a back-channel logout: the application refused the token (a
#: 3xx or 4xx other than 429), its address or certificate cannot be trusted, it is disabled, or
#: the organization's retries ran out. The user is still signed in there: alert on it. The hub
#: also logs a warning. Arguments: ``sender`` (the Delivery model), ``delivery`` (the Delivery
#: as recorded, failed; its ``application`` and ``event`` loaded), ``attempts``, ``last_status``
#: (None without an HTTP answer), ``last_error``.
delivery_failed = Signal()
