"""Tasks run by a real Celery worker process on real Redis (no eager mode), and what
logout_sso does around each task in a worker."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from celery.signals import task_postrun, task_prerun
from django.db import connections
from django.utils import timezone

from logout_sso import tasks
from logout_sso.models import TrackedSession
from logout_sso.tasks import close_expired_sessions
from tests.services import wait_for


def tracked_session(application, organization, session_id, expires_at):
    return TrackedSession.objects.create(
        application=application,
        organization=organization,
        issuer="https://idp.example.com/",
        sub="user-1",
        session_id=session_id,
        expires_at=expires_at,
    )


@pytest.mark.django_db(transaction=True)
def test_worker_ends_expired_sessions(celery_worker, make_organization, make_application):
    organization = make_organization("acme")
    application = make_application("wiki", organization)
    now = timezone.now()
    expired = tracked_session(application, organization, "s-1", now - timedelta(minutes=1))
    live = tracked_session(application, organization, "s-2", now + timedelta(hours=1))

    close_expired_sessions.delay()

    def expired_is_ended() -> bool:
        expired.refresh_from_db()
        return expired.ended_at is not None

    wait_for(expired_is_ended, 30, "the worker did not end the expired session")
    assert expired.end_reason == "expired"
    live.refresh_from_db()
    assert live.ended_at is None


class Connection:
    """A database connection as ``close_unusable_connections`` sees it."""

    def __init__(self, in_atomic_block: bool = False) -> None:
        self.in_atomic_block = in_atomic_block
        self.checked = 0

    def close_if_unusable_or_obsolete(self) -> None:
        self.checked += 1


class OtherTask:
    """A task as a signal's sender: another project's, or one run eagerly."""

    def __init__(self, name: str, *, eager: bool = False) -> None:
        self.name = name
        self.request = SimpleNamespace(is_eager=eager)


@pytest.mark.parametrize("signal", [task_prerun, task_postrun])
def test_connections_are_checked_around_logout_sso_tasks_only(signal, monkeypatch):
    """Around each of logout_sso's tasks in a worker, connections an error left unusable (or
    past CONN_MAX_AGE) are closed, as Django does around requests (the PostgreSQL restart drill
    in test_hub_infrastructure_faults.py shows why); not inside a transaction, not around
    another project's tasks or eager ones."""
    idle, in_transaction = Connection(), Connection(in_atomic_block=True)
    monkeypatch.setattr(connections, "all", lambda initialized_only=False: [idle, in_transaction])
    other, eager = OtherTask("billing.invoice"), OtherTask("logout_sso.purge", eager=True)

    for sender in (tasks.deliver_event, tasks.send_due_deliveries, other, eager):
        signal.send(sender=sender, task_id="id", task=sender, args=(), kwargs={})

    assert (idle.checked, in_transaction.checked) == (2, 0)
