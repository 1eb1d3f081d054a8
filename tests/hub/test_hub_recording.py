"""Recording what the POSTs did while another connection holds the database's write lock.

The POSTs of a batch go out first, then their outcomes are recorded in one transaction. Under
load that transaction can be refused for a while (SQLite: ``database is locked`` once the
connection's busy timeout is over; PostgreSQL: ``lock_timeout``): it is tried again within the
claim's lease, so a delivery is never left claimed after its POST went out, for the sweeper to
send it again.

Here a second connection to the test database holds the write lock (SQLite: ``BEGIN
IMMEDIATE``; PostgreSQL: the deliveries' table locked ``EXCLUSIVE``), the hub's connection gives
up waiting for a lock after 50 ms, and a real receiver on loopback counts the POSTs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from logout_sso.hub.internal import sender
from logout_sso.hub.internal.outbox import record_logout
from logout_sso.internal.transactions import is_lock_error
from logout_sso.models import Delivery, LogoutEvent, Organization
from logout_sso.models.events import Initiator
from tests.hub_receivers import (
    IDP_ISSUER,
    Receiver,
    claims_run_out,
    hub_policy,
    messages_lost,
    register_application,
    track_session,
)

#: How long the hub's connection waits for another's lock before its statement fails.
LOCK_WAIT_MS = 50
#: How long the other connection holds the write lock: many times the hub's wait.
HOLD_SECONDS = 1.0


@pytest.fixture
def impatient_connection() -> Iterator[None]:
    """The hub's connection waits at most ``LOCK_WAIT_MS`` for another connection's lock
    (SQLite's busy timeout, PostgreSQL's ``lock_timeout``), through its connection settings."""
    options = connection.settings_dict["OPTIONS"]
    saved = dict(options)
    if connection.vendor == "sqlite":
        options["timeout"] = LOCK_WAIT_MS / 1000
    else:
        options["options"] = f"-c lock_timeout={LOCK_WAIT_MS}"
    connection.close()  # Opened again, with these settings, by the next query.
    yield
    options.clear()
    options.update(saved)
    connection.close()


@contextmanager
def write_lock_held(release_after: float | None) -> Iterator[None]:
    """Another connection to the test database holds the write lock within the block, and
    lets it go after ``release_after`` seconds (None: at the end of the block)."""
    other = connection.get_new_connection(connection.get_connection_params())
    if connection.vendor == "sqlite":
        other.execute("BEGIN IMMEDIATE")
    else:
        table = connection.ops.quote_name(Delivery._meta.db_table)
        other.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")  # Reads pass; writes wait.
    release = threading.Timer(release_after, other.rollback) if release_after else None
    if release:
        release.start()
    try:
        yield
    finally:
        if release:
            release.join()
        other.rollback()
        other.close()


@pytest.fixture
def claimed(hub_settings: Any, transactional_db: None, monkeypatch: pytest.MonkeyPatch):
    """A logout of user-1 whose one delivery, to the receiver, is claimed by the message that
    never reached a worker: ``(event, claim, receiver)``. The receiver counts POSTs."""
    acme = hub_policy(Organization.objects.create(slug="acme", name="Acme"))
    receiver = Receiver()
    wiki, _ = register_application("wiki", acme, uri=receiver.url)
    track_session(wiki, acme, "user-1", sid="sid-1")
    with messages_lost(monkeypatch, run_out=False) as claims:
        event = record_logout(
            initiator=Initiator.ADMIN, issuer=IDP_ISSUER, sub="user-1", organization=acme
        )
    yield event, claims[0], receiver
    receiver.close()


#: Statements that fail with an OperationalError that no other connection's lock caused.
NOT_A_LOCK = {
    "sqlite": ["SELECT * FROM logout_sso_no_such_table"],
    "postgresql": ["SET LOCAL statement_timeout = 1", "SELECT pg_sleep(1)"],
}


def test_a_blocked_write_is_a_lock_error(transactional_db, impatient_connection):
    with (
        write_lock_held(release_after=None),
        pytest.raises(OperationalError) as refused,
        transaction.atomic(),
    ):
        Delivery.objects.update(attempts=0)

    assert is_lock_error(refused.value)


def run_all(statements: list[str]) -> None:
    """Run ``statements`` in one transaction."""
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def test_other_database_errors_are_not_lock_errors(transactional_db):
    with pytest.raises(OperationalError) as failed:
        run_all(NOT_A_LOCK[connection.vendor])

    assert not is_lock_error(failed.value)
    assert not is_lock_error(ValueError("database is locked"))


def test_outcome_is_recorded_once_the_lock_is_released_and_sent_once(
    claimed, impatient_connection, caplog
):
    event, claim, receiver = claimed
    caplog.set_level(logging.DEBUG, logger="logout_sso.internal.transactions")

    with write_lock_held(release_after=HOLD_SECONDS):
        assert sender.deliver_event(event.pk, claim).delivered == 1

    refusals = [r for r in caplog.records if "trying again" in r.getMessage()]
    assert refusals, "the recording was never refused: the test did not hold the lock"
    delivery = Delivery.objects.get(event=event)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)
    assert delivery.claim == ""
    assert LogoutEvent.objects.get(pk=event.pk).outcome == "completed"
    claims_run_out([claim])  # Had the delivery stayed claimed, its lease would be over now.
    assert sender.send_due() == 0
    assert len(receiver.received) == 1


def test_recording_gives_up_within_the_lease_and_says_so(
    claimed, hub_settings, impatient_connection, caplog
):
    event, claim, receiver = claimed
    # The lease ends in 1.5 s, more than an attempt takes (so the claim is not renewed).
    hub_settings.LOGOUT_SSO = {
        **hub_settings.LOGOUT_SSO,
        "DELIVERY_CONNECT_TIMEOUT": 0.5,
        "DELIVERY_READ_TIMEOUT": 0.5,
    }
    lease = 1.5
    Delivery.objects.update(next_attempt_at=timezone.now() + timedelta(seconds=lease))

    with write_lock_held(release_after=None):
        started = time.monotonic()
        assert sender.deliver_event(event.pk, claim).delivered == 1
        took = time.monotonic() - started

    assert took < lease + 2 * LOCK_WAIT_MS / 1000
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "could not be recorded" in warning.getMessage()
    delivery = Delivery.objects.get(event=event)
    assert (delivery.state, delivery.attempts, delivery.claim) == ("pending", 0, claim)
    assert len(receiver.received) == 1
