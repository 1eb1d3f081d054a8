"""What an accepted signal does: its ``jti`` recorded once, its users logged out everywhere.

The caller runs both in one transaction: a replay waits for the first copy's transaction and is
refused; when the effect fails, the ``jti`` is not recorded and the source may send it again.
Each user is logged out by :func:`logout_sso.api.log_out_user`, as an admin's logout is: this
project's sessions end, the event is recorded, and the hub's fan-out is queued for Celery once
the transaction commits (the answer does not wait for the applications).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django.db import IntegrityError, transaction

from logout_sso import api
from logout_sso.inbound.internal.subjects import User
from logout_sso.inbound.internal.tokens import Refusal, SignalRefused
from logout_sso.models import LogoutEvent, ReceivedSignal, SignalSource
from logout_sso.models.events import Initiator


def record_once(source: SignalSource, jti: str) -> None:
    """Record that ``source`` sent ``jti``; :class:`SignalRefused` when it did already."""
    digest = hashlib.sha256(jti.encode()).hexdigest()
    try:
        with transaction.atomic():
            ReceivedSignal.objects.create(source=source, jti_digest=digest)
    except IntegrityError as exc:
        raise SignalRefused("This jti was already received.", Refusal.REPLAYED) from exc


def log_out(source: SignalSource, users: Iterable[User], initiator: Initiator) -> list[LogoutEvent]:
    """Log each of ``users`` out of every application of the source's organization; the
    events recorded (none for a user without a live session)."""
    events = (
        api.log_out_user(
            source.organization,
            initiator=initiator,
            issuer=user.issuer,
            sub=user.sub,
            sid=user.sid,
        )
        for user in users
    )
    return [event for event in events if event is not None]
