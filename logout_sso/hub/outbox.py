"""The transactional outbox: a logout becomes one event and one delivery per application.

The rows are written in one transaction, before any message is queued; the Celery message only
says "go" and is sent once the transaction has committed. A lost message is found again by the
sweeper (:func:`logout_sso.hub.sender.send_due`): the database is the truth.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from logout_sso import tasks
from logout_sso.models import Delivery, LogoutEvent, Organization, TrackedSession
from logout_sso.models.events import DeliveryState, Initiator, Outcome
from logout_sso.models.sessions import EndReason
from logout_sso.sessions import end_sessions


def sessions_of(event: LogoutEvent) -> QuerySet[TrackedSession]:
    """The live tracked sessions an event ends: its sid's, or every session of its sub."""
    sessions = TrackedSession.objects.live().filter(issuer=event.issuer)
    sessions = sessions.filter(sid=event.sid) if event.sid else sessions.filter(sub=event.sub)
    if event.organization_id is not None:
        sessions = sessions.filter(organization_id=event.organization_id)
    return sessions


def deliveries_for(event: LogoutEvent, sessions: QuerySet[TrackedSession]) -> list[Delivery]:
    """What ending ``sessions`` takes: one delivery per enabled application holding one (already
    delivered for those sharing this project's session store), and one per session for an
    application that requires a sid when the logout names only a subject."""
    now = timezone.now()
    holders = sessions.filter(application__enabled=True).values_list(
        "application_id",
        "application__shares_session_store",
        "application__backchannel_logout_uri",
        "application__backchannel_logout_session_required",
        "sid",
    )
    deliveries: dict[tuple[int, str], Delivery] = {}
    for application_id, shares_store, uri, requires_sid, sid in holders:
        if shares_store:
            deliveries.setdefault(
                (application_id, ""),
                Delivery(
                    event=event,
                    application_id=application_id,
                    state=DeliveryState.DELIVERED,
                    attempts=1,
                    delivered_at=now,
                    latency_ms=0,
                ),
            )
        elif uri:
            key = (application_id, sid if requires_sid and not event.sid else "")
            deliveries.setdefault(
                key,
                Delivery(
                    event=event, application_id=application_id, sid=key[1], next_attempt_at=now
                ),
            )
    return list(deliveries.values())


@transaction.atomic(savepoint=False)
def fan_out(event: LogoutEvent, organization_ids: list[int] | None = None) -> list[Delivery]:
    """Deliveries of ``event`` to every application holding one of its sessions (in those
    organizations, if given); the sessions are marked ended and the sending is queued once the
    transaction commits."""
    now = timezone.now()
    sessions = sessions_of(event)
    if organization_ids is not None:
        sessions = sessions.filter(organization_id__in=organization_ids)
    deliveries = Delivery.objects.bulk_create(deliveries_for(event, sessions))
    if any(delivery.state == DeliveryState.DELIVERED for delivery in deliveries):
        end_sessions(event.issuer, sid=event.sid, sub=event.sub)
    sessions.update(ended_at=now, end_reason=EndReason.LOGOUT)
    if any(delivery.state == DeliveryState.PENDING for delivery in deliveries):
        transaction.on_commit(partial(tasks.deliver_event.delay, event.pk))
    else:
        LogoutEvent.objects.filter(pk=event.pk).update(outcome=Outcome.COMPLETED, completed_at=now)
    return deliveries


@transaction.atomic(savepoint=False)
def record_logout(
    *,
    initiator: str,
    issuer: str,
    sub: str = "",
    sid: str = "",
    organization: Organization | None = None,
    **initiated_by: Any,
) -> LogoutEvent:
    """Record a logout and fan it out (``initiated_by``: ``initiated_by_user`` or
    ``initiated_by_application``)."""
    event = LogoutEvent.objects.create(
        initiator=initiator,
        issuer=issuer,
        sub=sub,
        sid=sid,
        organization=organization,
        **initiated_by,
    )
    fan_out(event)
    return event


def users_of(organization: Organization) -> list[tuple[str, str]]:
    """(issuer, sub) of every user with a live tracked session in the organization."""
    return list(
        TrackedSession.objects.live()
        .filter(organization=organization)
        .values_list("issuer", "sub")
        .distinct()
        .order_by("issuer", "sub")
    )


def log_out_organization(organization: Organization, **initiated_by: Any) -> list[LogoutEvent]:
    """Log every user of the organization out of every application (an admin's action)."""
    return [
        record_logout(
            initiator=Initiator.ADMIN,
            issuer=issuer,
            sub=sub,
            organization=organization,
            **initiated_by,
        )
        for issuer, sub in users_of(organization)
    ]


@transaction.atomic
def retry_failed(events: QuerySet[LogoutEvent]) -> int:
    """Send the events' failed deliveries again (once the application's problem is fixed)."""
    now = timezone.now()
    failed = Delivery.objects.filter(event__in=events, state=DeliveryState.FAILED)
    event_ids = set(failed.values_list("event_id", flat=True))
    count = failed.update(state=DeliveryState.PENDING, attempts=0, next_attempt_at=now, claim="")
    LogoutEvent.objects.filter(pk__in=event_ids).update(outcome=Outcome.PENDING, completed_at=None)
    for event_id in event_ids:
        transaction.on_commit(partial(tasks.deliver_event.delay, event_id))
    return count
