"""Organization-wide logouts as background jobs: a batch of users at a time, resumable.

A job is a row (:class:`~logout_sso.models.OrganizationLogoutJob`); each batch runs in one
transaction that locks it, logs the next users out (an event each, their deliveries written
under one claim per share of the batch) and moves the job's cursor past them. A worker killed
mid-batch rolls the batch back and its message comes again; a lost message is found by the
sweeper (:func:`resume_stalled`). After the batch commits, its deliveries are queued, then
the next batch: behind them in the same queue, so a job never runs far ahead of its
deliveries and never holds a worker for long (other organizations' logouts, queued meanwhile,
are taken in between).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from logout_sso import tasks
from logout_sso.conf import app_settings
from logout_sso.hub.internal import claims as claiming
from logout_sso.hub.internal import outbox
from logout_sso.internal import metrics, session_index, user_ranges
from logout_sso.internal.user_ranges import UserKey
from logout_sso.models import (
    Delivery,
    LocalSession,
    LogoutEvent,
    Organization,
    OrganizationLogoutJob,
    TrackedSession,
)
from logout_sso.models.events import Initiator
from logout_sso.models.jobs import JobState

#: A job that has not moved for this many claim leases (its message lost with a broker's
#: data, or held by a worker that died) is taken up again.
STALLED_AFTER_LEASES = 4


def stalled_after() -> timedelta:
    """How long a job may go without moving before the sweeper takes it up again."""
    return timedelta(seconds=STALLED_AFTER_LEASES * claiming.lease_seconds())


def start(organization: Organization, *, by_user: AbstractBaseUser | None) -> OrganizationLogoutJob:
    """Record the job and queue its first batch once the transaction commits."""
    with transaction.atomic():
        job = OrganizationLogoutJob.objects.create(
            organization=organization,
            requested_by_id=by_user.pk if by_user is not None else None,
            users_total=outbox.users_of(organization).count(),
        )
        transaction.on_commit(partial(tasks.run_organization_logout.delay, job.pk, 0))
    return job


def run_batch(job_id: int, users_done: int | None = None) -> bool:
    """Log the job's next batch of users out; return whether more remain. Safe to run twice
    at once or again after a crash: the job's row is locked and its cursor moves with the
    batch, in one transaction. ``users_done``: where the job stood when this batch was
    queued; a message for a batch already done (a copy queued by the sweeper while the
    original was only slow) does nothing, so copies never become parallel chains."""
    with transaction.atomic():
        job = (
            # Only the job's row is locked ("of": requested_by is an outer join).
            OrganizationLogoutJob.objects.select_for_update(of=("self",))
            .select_related("organization", "requested_by")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.state == JobState.DONE:
            return False
        if users_done is not None and users_done != job.users_done:
            return False
        now = timezone.now()
        if job.state == JobState.QUEUED:
            job.state, job.started_at = JobState.RUNNING, now
        after = (job.last_issuer, job.last_sub) if job.users_done else None
        size = app_settings.ORGANIZATION_LOGOUT_BATCH_SIZE
        users = list(outbox.users_of(job.organization, after=after)[:size])
        claims = _log_out(job, users, now)
        more = len(users) == size
        if not more:
            job.local_sessions_ended += _end_remaining_local_sessions(job.organization_id)
            job.state, job.finished_at = JobState.DONE, now
        job.save()
        for claim in claims:
            transaction.on_commit(partial(tasks.deliver_organization_logout.delay, job.pk, claim))
        if more:
            next_batch = partial(tasks.run_organization_logout.delay, job.pk, job.users_done)
            transaction.on_commit(next_batch)
    return more


def _log_out(job: OrganizationLogoutJob, users: list[UserKey], now: datetime) -> list[str]:
    """Log these users out, in a few statements for them all: their sessions here end, an
    event each, their deliveries dealt out under claims of ``DELIVERY_CONCURRENCY`` each (one
    task, one round of POSTs, each), their tracked sessions ended. Move the job's cursor past
    them; return the claims."""
    if not users:
        return []
    wanted = set(users)
    start = (job.last_issuer, job.last_sub) if job.users_done else None
    within = user_ranges.after(start) & user_ranges.up_to(users[-1])
    ended_here = session_index.end_sessions_of_users(job.organization_id, wanted, within)
    live = TrackedSession.objects.live().filter(within, organization_id=job.organization_id)
    sessions = [s for s in outbox.holders(live.order_by()) if (s.issuer, s.sub) in wanted]
    by_user: dict[UserKey, list[outbox.Holder]] = {}
    for session in sessions:
        by_user.setdefault((session.issuer, session.sub), []).append(session)
    events = _create_events(
        LogoutEvent(
            initiator=Initiator.ADMIN,
            initiated_by_user_id=job.requested_by_id,
            issuer=issuer,
            sub=sub,
            organization_id=job.organization_id,
            job=job,
            sessions_ended=ended_here[(issuer, sub)],
        )
        for issuer, sub in users
    )
    metrics.logouts_recorded(Initiator.ADMIN, len(events))
    plans = [
        (event, outbox.plan(event, by_user.get((event.issuer, event.sub), []))) for event in events
    ]
    queued = outbox.write(plans, now, claiming.claims_by(app_settings.DELIVERY_CONCURRENCY))
    outbox.end_tracked(sessions, now)
    job.local_sessions_ended += sum(ended_here.values())
    job.users_done += len(users)
    job.last_issuer, job.last_sub = users[-1]
    return list(dict.fromkeys(claim for _event_id, claim in queued))


def _create_events(events: Iterable[LogoutEvent]) -> list[LogoutEvent]:
    """Insert the events, with their primary keys (one statement where the database returns
    them)."""
    if connection.features.can_return_rows_from_bulk_insert:
        return LogoutEvent.objects.bulk_create(events)
    created = list(events)
    for event in created:
        event.save(force_insert=True)
    return created


def _end_remaining_local_sessions(organization_id: int) -> int:
    """This project's sessions of the organization's users who had none in an application."""
    return session_index.end_indexed(LocalSession.objects.filter(organization_id=organization_id))


def deliveries_of(job_id: int) -> QuerySet[Delivery]:
    """Every delivery of the job's events."""
    return Delivery.objects.filter(event__job_id=job_id)


def resume_stalled() -> int:
    """Queue again the next batch of every unfinished job that has not moved for a while;
    return how many. A batch queued twice is harmless (see :func:`run_batch`)."""
    stalled = dict(
        OrganizationLogoutJob.objects.exclude(state=JobState.DONE)
        .filter(updated_at__lt=timezone.now() - stalled_after())
        .values_list("pk", "users_done")
    )
    # Touched, so a job still waiting in a long queue is queued again at most once a while.
    OrganizationLogoutJob.objects.filter(pk__in=stalled).update(updated_at=timezone.now())
    for job_id, users_done in stalled.items():
        tasks.run_organization_logout.delay(job_id, users_done)
    return len(stalled)
