"""The transactional outbox: a logout becomes one event and one delivery per application.

The rows are written in one transaction, before any message is queued, already claimed for the
tasks that will send them; each Celery message only says "go, send what this claim holds" and is
sent once the transaction has committed, so the worker starts with no write of its own. A lost
message's deliveries are sent by the sweeper (:func:`~logout_sso.hub.internal.sender.send_due`)
once the claim's lease is over: the database is the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NamedTuple

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from logout_sso import tasks
from logout_sso.hub.internal import claims as claiming
from logout_sso.internal import metrics, user_ranges
from logout_sso.internal.session_index import end_sessions
from logout_sso.internal.user_ranges import UserKey
from logout_sso.models import Application, Delivery, LogoutEvent, Organization, TrackedSession
from logout_sso.models.events import DeliveryState, Initiator, Outcome
from logout_sso.models.tracked_sessions import EndReason


def live_sessions(
    issuer: str, *, sub: str, sid: str, organization_ids: Iterable[int | None] | None
) -> QuerySet[TrackedSession]:
    """The live tracked sessions of that IdP session (``sid``), or of every session of ``sub``,
    in those organizations (None: in any)."""
    # No order: nothing reads them in order, and a sort is a temporary B-tree on SQLite.
    sessions = TrackedSession.objects.filter(issuer=issuer).order_by()
    # By sid, live told by the end reason, not by ended_at IS NULL: PostgreSQL without
    # statistics takes that for rare, rated the index of the organizations' live users
    # (logout_sso_session_live_org, partial on it) as good as the sid's, and read every live
    # session of the organization (0.5 s at 1,000,000 tracked sessions).
    sessions = sessions.live_by_reason().filter(sid=sid) if sid else sessions.live().filter(sub=sub)
    if organization_ids is not None:
        sessions = sessions.filter(organization_id__in=list(organization_ids))
    return sessions


def sessions_of(event: LogoutEvent) -> QuerySet[TrackedSession]:
    """The live tracked sessions an event names, in its organization (in any without one)."""
    scope = None if event.organization_id is None else [event.organization_id]
    return live_sessions(event.issuer, sub=event.sub, sid=event.sid, organization_ids=scope)


class Holder(NamedTuple):
    """A live tracked session, as a logout plans its deliveries (see :func:`holders`)."""

    pk: int
    issuer: str
    sub: str
    sid: str
    application_id: int
    enabled: bool
    shares_store: bool
    uri: str
    requires_sid: bool


def holders(sessions: QuerySet[TrackedSession]) -> list[Holder]:
    """The sessions with what :func:`plan` needs of their applications (one query)."""
    rows = sessions.values_list(
        "pk",
        "issuer",
        "sub",
        "sid",
        "application_id",
        "application__enabled",
        "application__shares_session_store",
        "application__backchannel_logout_uri",
        "application__backchannel_logout_session_required",
    )
    return [Holder(*row) for row in rows]


class Planned(NamedTuple):
    """A delivery a logout takes."""

    application_id: int
    sid: str  # The session its token names, when not the event's own.
    direct: bool  # Ended in this project's session store: already delivered.


def plan(event: LogoutEvent, sessions: Iterable[Holder]) -> list[Planned]:
    """What ending ``sessions`` takes: one delivery per enabled application holding one (direct
    for those sharing this project's session store), and one per session for an application
    that requires a sid when the logout names only a subject."""
    planned: dict[tuple[int, str], Planned] = {}
    for session in sessions:
        if not session.enabled:
            continue
        application_id = session.application_id
        if session.shares_store:
            planned.setdefault((application_id, ""), Planned(application_id, "", direct=True))
        elif session.uri:
            sid = session.sid if session.requires_sid and not event.sid else ""
            planned.setdefault((application_id, sid), Planned(application_id, sid, direct=False))
    return list(planned.values())


def write(
    plans: list[tuple[LogoutEvent, list[Planned]]],
    now: datetime,
    claims_for: Callable[[int], list[str]] = claiming.claims_for,
) -> list[tuple[int, str]]:
    """Insert the deliveries of these events (one statement or a few for them all): direct
    ones delivered, the others claimed for the tasks that will send them, ``claims_for(n)``
    giving the claims of the ``n`` to send, in order; mark the events with nothing to send
    completed. Return each (event id, claim) to queue a task for."""
    direct = [
        {"event_id": e.pk, "application_id": p.application_id}
        for e, ps in plans
        for p in ps
        if p.direct
    ]
    Delivery.objects.insert_each(
        direct,
        sid="",
        state=DeliveryState.DELIVERED,
        attempts=1,
        delivered_at=now,
        latency_ms=0,
        last_error="",
        claim="",
        created_at=now,
    )
    to_send = [(event, p) for event, ps in plans for p in ps if not p.direct]
    claims = claims_for(len(to_send))
    Delivery.objects.insert_each(
        [
            {"event_id": event.pk, "application_id": p.application_id, "sid": p.sid, "claim": claim}
            for (event, p), claim in zip(to_send, claims, strict=True)
        ],
        state=DeliveryState.PENDING,
        attempts=0,
        next_attempt_at=now + timedelta(seconds=claiming.lease_seconds()),
        last_error="",
        created_at=now,
    )
    sending = {event.pk for event, _ in to_send}
    done = [event for event, _ in plans if event.pk not in sending]
    LogoutEvent.objects.filter(pk__in=[event.pk for event in done]).update(
        outcome=Outcome.COMPLETED, completed_at=now
    )
    for event in done:
        event.outcome, event.completed_at = Outcome.COMPLETED, now
    queued = ((event.pk, claim) for (event, _), claim in zip(to_send, claims, strict=True))
    return list(dict.fromkeys(queued))


def end_tracked(sessions: Iterable[Holder], now: datetime) -> None:
    """Mark these tracked sessions ended by a logout."""
    TrackedSession.objects.filter(pk__in=[session.pk for session in sessions]).update(
        ended_at=now, end_reason=EndReason.LOGOUT
    )


@transaction.atomic(savepoint=False)
def fan_out(
    event: LogoutEvent,
    organization_ids: list[int] | None = None,
    sessions: list[Holder] | None = None,
) -> int:
    """Deliveries of ``event`` to every application holding one of its sessions in those
    organizations (by default, the event's own); the sessions are marked ended, and the tasks
    that send the deliveries are queued once the transaction commits. Returns how many
    deliveries. Nothing outside those organizations is ended, here or elsewhere. ``sessions``:
    the event's :func:`holders` in its own organization, when the caller read them already in
    this transaction."""
    now = timezone.now()
    scope = [event.organization_id] if organization_ids is None else organization_ids
    if sessions is None:
        sessions = holders(
            live_sessions(event.issuer, sub=event.sub, sid=event.sid, organization_ids=scope)
        )
    planned = plan(event, sessions)
    queued = write([(event, planned)], now)
    if any(p.direct for p in planned):
        end_sessions(event.issuer, sid=event.sid, sub=event.sub, organization_ids=scope)
    end_tracked(sessions, now)
    for event_id, claim in queued:
        transaction.on_commit(partial(tasks.deliver_event.delay, event_id, claim))
    return len(planned)


@transaction.atomic(savepoint=False)
def record_logout(
    *,
    initiator: Initiator,
    issuer: str,
    sub: str = "",
    sid: str = "",
    organization: Organization,
    sessions: list[Holder] | None = None,
    **fields: Any,
) -> LogoutEvent:
    """Record a logout and fan it out; ``sessions``: the user's :func:`holders` in the
    organization, when the caller read them already in this transaction; ``fields``: more of
    the event's, e.g. ``initiated_by_user``, ``initiated_by_application``, ``sessions_ended``."""
    event = LogoutEvent.objects.create(
        initiator=initiator,
        issuer=issuer,
        sub=sub,
        sid=sid,
        organization=organization,
        **fields,
    )
    metrics.logouts_recorded(initiator)
    fan_out(event, sessions=sessions)
    return event


def users_of(organization: Organization, *, after: UserKey | None = None) -> QuerySet[Any]:
    """(issuer, sub) of every user with a live tracked session in the organization, in order;
    only those after ``after`` when given (an organization-wide logout's next batch)."""
    users = TrackedSession.objects.live().filter(
        user_ranges.after(after), organization=organization
    )
    return users.values_list("issuer", "sub").distinct().order_by("issuer", "sub")


@transaction.atomic
def retry_failed(events: QuerySet[LogoutEvent], application: Application | None = None) -> int:
    """Send the events' failed deliveries again (once the application's problem is fixed),
    only those to ``application`` when given. The deliveries of an organization-wide logout
    go in one task per job, on its queue; the others in one task per event."""
    now = timezone.now()
    failed = Delivery.objects.filter(event__in=events, state=DeliveryState.FAILED)
    if application is not None:
        failed = failed.filter(application=application)
    retried = dict(failed.values_list("event_id", "event__job_id").distinct())
    count = failed.update(state=DeliveryState.PENDING, attempts=0, next_attempt_at=now, claim="")
    LogoutEvent.objects.filter(pk__in=retried).update(outcome=Outcome.PENDING, completed_at=None)
    for event_id, job_id in retried.items():
        if job_id is None:
            transaction.on_commit(partial(tasks.deliver_event.delay, event_id))
    for job_id in set(retried.values()) - {None}:
        transaction.on_commit(partial(tasks.deliver_organization_logout.delay, job_id))
    return count
