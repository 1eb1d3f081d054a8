"""Signals logout_sso sends, for integrators to connect to. Sent with ``sender`` and keywords."""

from __future__ import annotations

from django.dispatch import Signal

#: Sent after the hub marked tracked sessions whose expiry passed as ended.
#: Arguments: ``sender`` (the TrackedSession model), ``count`` (how many were ended).
tracked_sessions_expired = Signal()
