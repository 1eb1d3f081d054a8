"""Shared Signals: what a Security Event Token (RFC 8417) from a transmitter does, however it
came (pushed to the endpoint, RFC 8935, or polled, RFC 8936: the same function).

The SET is checked by :func:`~logout_sso.inbound.internal.tokens.verify`, its ``jti`` recorded
once, then each event of its ``events`` claim acts, on the subject of the SET's ``sub_id`` (or,
from transmitters of older drafts, the event's ``subject``):

- CAEP ``session-revoked``: the subject's sessions end (one IdP session when the subject names
  it); RISC ``account-disabled`` and ``account-purged``: every session of the user.
- CAEP ``credential-change``: the same, when the source's ``credential_change_logs_out``.
- The SSF verification event: ``stream_verified_at`` is recorded when its ``state`` is the one
  this project asked for; another ``state`` is refused (``invalid_state``, Shared Signals
  Framework 1.0 section 8.1.4.1); one the transmitter sent on its own (no state asked, or none
  sent) is accepted.
- Any other event type is accepted and ignored. A subject naming nobody of the organization
  is accepted too: there is nothing to end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from logout_sso.inbound.internal import effects, subjects
from logout_sso.inbound.internal.tokens import Refusal, SignalRefused, Verified, verify
from logout_sso.models import SignalSource
from logout_sso.models.events import Initiator
from logout_sso.models.signal_sources import (
    ACCOUNT_DISABLED,
    ACCOUNT_PURGED,
    CREDENTIAL_CHANGE,
    SESSION_REVOKED,
    VERIFICATION,
)

#: The event types that log the subject out (credential-change only by the source's choice).
ALWAYS_LOG_OUT = frozenset({SESSION_REVOKED, ACCOUNT_DISABLED, ACCOUNT_PURGED})
#: A SET carries one event in practice (RFC 8417 allows a few related ones).
MAX_EVENTS = 10


@dataclass(frozen=True)
class Received:
    """What one accepted SET did."""

    source: SignalSource
    logouts: int


def _events(claims: dict[str, Any]) -> dict[str, dict[str, Any]]:
    events = claims["events"]
    if (
        not isinstance(events, dict)
        or not 0 < len(events) <= MAX_EVENTS
        or not all(isinstance(event, dict) for event in events.values())
    ):
        raise SignalRefused(
            f"The events claim must be an object of 1 to {MAX_EVENTS} event objects.",
            Refusal.INVALID_CLAIMS,
        )
    return events


def _verification(source: SignalSource, event: dict[str, Any]) -> None:
    state = event.get("state")
    if not source.verification_state or state is None:
        return
    if not isinstance(state, str) or not constant_time_compare(state, source.verification_state):
        raise SignalRefused(
            "The verification event's state is not the one requested.", Refusal.INVALID_STATE
        )
    SignalSource.objects.filter(pk=source.pk).update(stream_verified_at=timezone.now())


def _logs_out(source: SignalSource, event_type: str) -> bool:
    return event_type in ALWAYS_LOG_OUT or (
        event_type == CREDENTIAL_CHANGE and source.credential_change_logs_out
    )


def _act(
    source: SignalSource, claims: dict[str, Any], event_type: str, event: dict[str, Any]
) -> int:
    """Carry out one event; how many logouts it recorded."""
    if event_type == VERIFICATION:
        _verification(source, event)
        return 0
    if not _logs_out(source, event_type):
        return 0
    subject = claims.get("sub_id", event.get("subject"))
    if subject is None:
        raise SignalRefused("The event names no subject (sub_id).", Refusal.MISSING_CLAIM)
    users = subjects.resolve(source.organization, subject)
    return len(effects.log_out(source, users, Initiator.SHARED_SIGNALS))


def act_on(verified: Verified) -> Received:
    """Record the SET's ``jti`` and carry out its events, all or nothing."""
    events = _events(verified.claims)
    with transaction.atomic():
        effects.record_once(verified.source, verified.jti)
        logouts = sum(
            _act(verified.source, verified.claims, event_type, event)
            for event_type, event in events.items()
        )
    return Received(verified.source, logouts)


def receive(
    token: str, sources: Sequence[SignalSource], audience: Callable[[SignalSource], str]
) -> Received:
    """Check the SET ``token`` from one of ``sources`` and carry it out; raises
    :class:`SignalRefused` (or ``ProviderError`` when the keys cannot be had)."""
    return act_on(verify(token, sources, audience, security_event=True))
