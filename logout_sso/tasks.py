"""Celery tasks: thin ``@shared_task`` wrappers; the work lives in the role modules.

The hub's tasks take ids (an event's or a job's, and a claim) and the client-mode tasks take
the JSON-able dict of what to tell the hub; never a model instance. Every task is idempotent:
a redelivered message (``task_acks_late``) finds done what was done, and sends again only what
it holds and nobody recorded (logging out twice is harmless; losing a logout is not).

The hub's sender (and libcurl, the ``[hub]`` extra) is imported when a delivery task runs, not
with this module: a project that only signs users in queues nothing that needs it.

Around each of these tasks in a worker, the database connections an error left unusable (the
database restarted) or past ``CONN_MAX_AGE`` are closed, as Django does around each request
(:func:`close_unusable_connections`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celery import Task, shared_task
from celery.signals import task_postrun, task_prerun
from django.db import connections

from logout_sso.client import HubError
from logout_sso.hub.internal import registry
from logout_sso.internal import retention
from logout_sso.rp.internal import hub_membership, policy_mirror

if TYPE_CHECKING:
    from logout_sso.hub.internal.sender import Sent

__all__ = [
    "close_expired_sessions",
    "deliver_event",
    "deliver_organization_logout",
    "poll_signals",
    "purge",
    "register_session_at_hub",
    "remove_session_at_hub",
    "report_logout_to_hub",
    "run_organization_logout",
    "send_due_deliveries",
    "sync_policies",
]

logger = logging.getLogger(__name__)

#: A retry due sooner than this is queued with a countdown (well under Redis' visibility
#: timeout, so it never runs twice); later ones are left to the sweeper.
SHORT_RETRY_SECONDS = 60


def close_unusable_connections(sender: Task | None = None, **kwargs: Any) -> None:  # type: ignore[type-arg]
    """Before and after each of logout_sso's tasks run by a worker, close every database
    connection that an error left unusable or that is older than ``CONN_MAX_AGE``, as Django
    does before and after each request; a worker sends no request signals. Without it, a
    worker that keeps its connection between tasks (``CELERY_DB_REUSE_MAX``, which Celery's
    Django fixup honours by not closing it) kept a connection the database had dropped (a
    restart, a failover) and failed every task with it until the fixup closed it,
    ``CELERY_DB_REUSE_MAX`` tasks later. With ``CONN_HEALTH_CHECKS``, this also has the
    connection checked before the task's first query. Eager tasks, and connections inside a
    transaction, are left alone."""
    if sender is None or not sender.name.startswith("logout_sso.") or sender.request.is_eager:
        return
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


task_prerun.connect(close_unusable_connections, dispatch_uid="logout_sso_connections_before")
task_postrun.connect(close_unusable_connections, dispatch_uid="logout_sso_connections_after")


@shared_task(name="logout_sso.close_expired_sessions")
def close_expired_sessions() -> int:
    """Mark tracked sessions past their expiry as ended (schedule it with Celery beat)."""
    return registry.close_expired_sessions()


@shared_task(name="logout_sso.purge")
def purge() -> dict[str, int]:
    """Delete the tracked sessions, logout events, deliveries and session index entries past
    their retention; return how many of each (schedule it daily with Celery beat)."""
    return retention.purge().as_dict()


# acks_late + reject_on_worker_lost: a message whose worker died is delivered again at once;
# what it sends again is only what the dead worker had not recorded (at most one batch).
@shared_task(name="logout_sso.deliver_event", acks_late=True, reject_on_worker_lost=True)
def deliver_event(event_id: int, claim: str = "") -> int:
    """Send a logout event's back-channel logouts, all at once: those ``claim`` holds (a
    fan-out writes its deliveries claimed for the tasks it queues), or without it those due
    (a retry); then queue the next retry."""
    from logout_sso.hub.internal import sender

    return _retry_soon(deliver_event, sender.deliver_event(event_id, claim), event_id)


@shared_task(name="logout_sso.run_organization_logout", acks_late=True, reject_on_worker_lost=True)
def run_organization_logout(job_id: int, users_done: int | None = None) -> bool:
    """Log the next batch of users of an organization-wide logout job out (unless the job
    has moved past ``users_done`` since this message was queued), then queue the batch's
    deliveries and the next batch (behind them); return whether more remain. Route
    it, with ``deliver_organization_logout``, to a queue of its own to keep bulk work apart
    from single logouts (see the deployment docs)."""
    from logout_sso.hub.internal import jobs

    return jobs.run_batch(job_id, users_done)


@shared_task(
    name="logout_sso.deliver_organization_logout", acks_late=True, reject_on_worker_lost=True
)
def deliver_organization_logout(job_id: int, claim: str = "") -> int:
    """Send an organization-wide logout job's back-channel logouts that ``claim`` holds (one
    batch's share), or without it those due (a retry); then queue the retry of those it
    tried, when it is due soon."""
    from logout_sso.hub.internal import jobs, sender

    sent = sender.deliver(jobs.deliveries_of(job_id), claim)
    return _retry_soon(deliver_organization_logout, sent, job_id)


def _retry_soon(task: Task, sent: Sent, *arguments: Any) -> int:  # type: ignore[type-arg]
    """Queue ``task(*arguments)`` for the first retry of what was just sent, when it is due
    soon (later ones are the sweeper's); return how many were delivered."""
    delay = sent.retry_in()
    if delay is not None and delay <= SHORT_RETRY_SECONDS:
        task.apply_async(arguments, countdown=delay)
    return sent.delivered


@shared_task(name="logout_sso.send_due_deliveries", acks_late=True)
def send_due_deliveries() -> int:
    """The sweeper: send every delivery whose time has come, whether or not its message
    survived (schedule it with Celery beat, e.g. every 30 s)."""
    from logout_sso.hub.internal import jobs, sender

    jobs.resume_stalled()
    return sender.send_due()


def _call_hub(task: Task, call: Any) -> Any:  # type: ignore[type-arg]
    """Run a call to the hub; retry later (exponential backoff) when the hub is unreachable,
    overloaded or failing; on an error retrying cannot fix (a 4xx but 429), log the hub's
    reason as one warning and give up (the task succeeds: no traceback per sign-in)."""
    try:
        return call()
    except HubError as exc:
        if not exc.transient:
            logger.warning("The hub refused %s (not retried): %s", task.name, exc)
            return None
        raise task.retry(exc=exc, countdown=min(300, 2**task.request.retries)) from exc


@shared_task(name="logout_sso.register_session_at_hub", bind=True, max_retries=10)
def register_session_at_hub(self: Task, registration: dict[str, Any]) -> None:  # type: ignore[type-arg]
    """Client mode: tell the hub about a new session."""
    _call_hub(self, lambda: hub_membership.hub_client().register_session(**registration))


@shared_task(name="logout_sso.remove_session_at_hub", bind=True, max_retries=10)
def remove_session_at_hub(self: Task, session_id: str) -> None:  # type: ignore[type-arg]
    """Client mode: tell the hub a session ended here."""
    _call_hub(self, lambda: hub_membership.hub_client().remove_session(session_id))


@shared_task(name="logout_sso.report_logout_to_hub", bind=True, max_retries=10)
def report_logout_to_hub(self: Task, logout: dict[str, Any]) -> None:  # type: ignore[type-arg]
    """Client mode: the user logged out here; the hub logs them out everywhere."""
    _call_hub(self, lambda: hub_membership.hub_client().report_logout(**logout))


@shared_task(name="logout_sso.sync_policies")
def sync_policies() -> dict[str, Any] | None:
    """Client mode: mirror the organizations and policies this application serves at the hub
    (schedule it with Celery beat every ``POLICY_SYNC_INTERVAL`` seconds); returns what it did
    (:class:`~logout_sso.api.SyncReport` as a dict). Outside client mode it does nothing and
    returns None."""
    if not hub_membership.enabled():
        return None
    return policy_mirror.sync().as_dict()


@shared_task(name="logout_sso.poll_signals")
def poll_signals() -> dict[str, int]:
    """Fetch, act on and acknowledge the Shared Signals events of the transmitters that deliver
    by poll (RFC 8936; schedule it with Celery beat, e.g. every 30 s); returns how many
    sources were polled, SETs received and refused, and polls that failed."""
    from logout_sso.inbound.internal import polling  # libcurl: only where the hub polls

    return polling.poll_all()
