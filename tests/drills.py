"""What the fault drills at 10,000 deliveries share (issue 15): a hub whose worker processes
run with scaled-down timeouts, a fan-out to applications on a
:class:`~tests.receiver_farm.ReceiverFarm`, the sweeper queued as Celery beat would, a worker
killed as a crash would, and the tally of what the applications received.

Every fault drill builds its hub of 10,000 deliveries, starts its workers and tallies with
this module (tests/hub/test_hub_faults.py, tests/hub/test_hub_infrastructure_faults.py). The
workers are real ``celery worker`` processes (:meth:`DrillHub.worker`: one pool process by
default, on Redis or another broker) configured as docs/deployment.md tells operators, their
database connection kept between tasks; each is a :class:`Worker`, its name and its log.

A plugin of the suite (``pytest_plugins`` of ``tests/conftest.py``): its fixture ``drill_hub``
is there for every test that names it. A drill::

    with ReceiverFarm(100) as farm:
        fan_out = drill_hub.fan_out(farm, drill_hub.applications(farm), users=100)
        with drill_hub.worker(redis_url):
            fan_out.log_out()  # 100 users x 100 applications: 10,000 deliveries
            # ... the fault ...
            sweep_until(fan_out.all_delivered, DRILL_SECONDS, "not every delivery delivered")
        result = fan_out.tally("my drill", hub_jwks)
    assert (result.delivered, result.lost) == (10_000, 0)

A fault that comes while the users log out (their second part after it, if any):
:meth:`FanOut.log_out_through`. Each drill prints delivered / lost / duplicated
(:class:`Tally`):

- delivered: the fan-out's deliveries in state ``delivered``;
- lost: (application, user) pairs that should have received a logout token and never did;
- duplicated: tokens an application received for a user beyond the first.

Time is scaled down: connect and read timeouts of 0.5 s and 1 s (:data:`TIMEOUTS`), so a
claim's lease is 6.5 s (:func:`lease_seconds`), and a sweeper queued every second
(:data:`SWEEP_EVERY`) where Celery beat would queue it every 30 s.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.db.models import QuerySet

from logout_sso import tasks
from logout_sso.conf import app_settings
from logout_sso.hub.internal import claims as claiming
from logout_sso.hub.internal.outbox import record_logout
from logout_sso.models import Application, Delivery, LogoutEvent, Organization, TrackedSession
from logout_sso.models.events import DeliveryState, Initiator
from tests.celery_app import app as celery_app
from tests.hub_receivers import (
    IDP_ISSUER,
    JsonServer,
    as_receiver,
    hub_logout_sso,
    hub_policy,
    register_application,
)
from tests.receiver_farm import ReceiverFarm
from tests.services import running_worker, wait_for

#: The workers' timeouts, scaled down (tests/services.py's ``running_worker`` gets them).
TIMEOUTS = {"DELIVERY_CONNECT_TIMEOUT": 0.5, "DELIVERY_READ_TIMEOUT": 1.0}
#: How often :func:`sweep_until` queues the sweeper task (Celery beat's job in production).
SWEEP_EVERY = 1.0
#: The longest a drill waits for the hub to settle.
DRILL_SECONDS = 60.0
#: How the workers keep their database connection between tasks, as docs/deployment.md tells
#: operators (``CONN_MAX_AGE``, ``CONN_HEALTH_CHECKS``, ``CELERY_DB_REUSE_MAX``).
CONN_MAX_AGE = 60
DB_REUSE_MAX = 100

#: The hub signs with an EC key: a worker signs 10,000 tokens in well under a second (RSA ones
#: take seconds of CPU on a shared machine), and the receivers accept that algorithm alone.
ALGORITHM = "ES256"
#: An application (its primary key) and a user (``sub``) it must log out.
Pair = tuple[int, str]


def lease_seconds() -> float:
    """A claim's lease with the drills' timeouts (``claims.lease_seconds`` in the workers)."""
    return sum(TIMEOUTS.values()) + claiming.LEASE_MARGIN_SECONDS


# --- What the applications received ----------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """What a drill came to (see the module's docstring)."""

    delivered: int
    lost: int
    duplicated: int
    #: The pairs received more than once.
    repeated: frozenset[Pair] = field(default=frozenset())

    @classmethod
    def of(
        cls, drill: str, received: Counter[Pair], expected: Collection[Pair], delivered: int
    ) -> Tally:
        """The tally of ``received`` against ``expected`` (no other pair may be received),
        printed with the drill's name."""
        unexpected = set(received) - set(expected)
        assert not unexpected, f"logout tokens nobody should have received: {unexpected}"
        result = cls(
            delivered=delivered,
            lost=len(set(expected) - set(received)),
            duplicated=sum(count - 1 for count in received.values()),
            repeated=frozenset(pair for pair, count in received.items() if count > 1),
        )
        print(
            f"\n[{drill}] delivered={result.delivered} lost={result.lost} "
            f"duplicated={result.duplicated}"
        )
        return result


def verified(
    tokens: Mapping[Application, Collection[str]],
    jwks: JsonServer,
    algorithms: Sequence[str] = (ALGORITHM,),
) -> Counter[Pair]:
    """Verify every logout token each application received with logout_sso's own receiver,
    configured as that application, accepting ``algorithms`` (it fails on any token the
    application would refuse); count them per (application, user)."""
    received: Counter[Pair] = Counter()
    for application, its_tokens in tokens.items():
        with as_receiver(application.client_id, jwks.url, algorithms) as receive:
            for token in its_tokens:
                accepted = receive(token)
                assert (accepted.issuer, accepted.sid) == (IDP_ISSUER, ""), accepted
                received[application.pk, accepted.sub] += 1
    return received


def unverified_sub(token: str) -> str:
    """The ``sub`` of a logout token, read without verifying it (its payload decoded as is:
    a seventh of PyJWT's time, for 10,000 to 20,000 tokens a drill; :func:`verified` verifies
    every token it counts)."""
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


def delivered_count(deliveries: QuerySet[Delivery] | None = None) -> int:
    """How many of ``deliveries`` (by default: of all) are delivered."""
    deliveries = Delivery.objects.all() if deliveries is None else deliveries
    return deliveries.filter(state=DeliveryState.DELIVERED).count()


# --- A fan-out to applications on a receiver farm ---------------------------------------------


@dataclass(frozen=True)
class InFlight:
    """What a killed worker had sent and not recorded: each (application, user) pair the
    application had received whose delivery was still pending, with the end of that
    delivery's claim's lease (before which nobody may send it again)."""

    lease_ends: dict[Pair, datetime]
    #: The fan-out's deliveries recorded delivered when the worker died.
    delivered: int


@dataclass(frozen=True)
class FanOut:
    """Users of ``organization`` each signed in to every one of ``applications``, which
    receive on the ports of ``farm`` (by port)."""

    organization: Organization
    farm: ReceiverFarm
    applications: dict[int, Application]
    users: list[str]

    def log_out(self, users: Sequence[str] | None = None) -> None:
        """Each of ``users`` (by default: every user) logs out everywhere, one after the other
        (an event each; each event's deliveries are queued as it commits)."""
        for sub in self.users if users is None else users:
            record_logout(
                initiator=Initiator.ADMIN,
                issuer=IDP_ISSUER,
                sub=sub,
                organization=self.organization,
            )

    def deliveries(self) -> QuerySet[Delivery]:
        """The deliveries of the users' logouts."""
        return Delivery.objects.filter(
            event__organization=self.organization, event__sub__in=self.users
        )

    def events(self) -> QuerySet[LogoutEvent]:
        """The users' logout events."""
        return LogoutEvent.objects.filter(organization=self.organization, sub__in=self.users)

    def all_delivered(self) -> bool:
        """Whether every application received every user's logout, as recorded (the
        database is asked only once the farm answered as many POSTs: polling it costs the
        workers' database time)."""
        expected = len(self.users) * len(self.applications)
        return self.farm.requests() >= expected and delivered_count(self.deliveries()) == expected

    def log_out_through(
        self,
        fault: Callable[[], None],
        drill: str,
        *,
        when: Callable[[], bool],
        first: int | None = None,
        timeout: float = DRILL_SECONDS,
    ) -> int:
        """Log the ``first`` users out (by default: all) while the workers send; once
        ``when()``, ``fault()``; then log the others out, and queue the sweeper
        (:func:`sweep_until`) until every delivery is delivered. Print how many POSTs the
        applications had answered when the fault came, and how long the fan-out took (from
        the first logout until every delivery was seen recorded); return those POSTs."""
        started = time.monotonic()
        self.log_out(self.users[:first])
        wait_for(when, timeout, "the fan-out did not reach the fault")
        before_fault = self.farm.requests()
        fault()
        if first is not None:
            self.log_out(self.users[first:])
        sweep_until(self.all_delivered, timeout, "the sweeper did not deliver every delivery")
        expected = len(self.users) * len(self.applications)
        print(
            f"\n[{drill}] POSTs before the fault: {before_fault}; {expected} delivered "
            f"{time.monotonic() - started:.1f} s after the first logout"
        )
        assert before_fault < expected, "the fault came after the fan-out"
        return before_fault

    def tokens(self) -> dict[Application, list[str]]:
        """The tokens each application received for these users (told apart by their ``sub``
        read unverified: other users' may have come to the same farm)."""
        users, by_port = set(self.users), self.farm.tokens()
        return {
            application: [
                token for token in by_port.get(port, []) if unverified_sub(token) in users
            ]
            for port, application in self.applications.items()
        }

    def tally(self, drill: str, jwks: JsonServer) -> Tally:
        """:meth:`Tally.of` what the applications received for these users."""
        expected = [
            (application.pk, sub)
            for application in self.applications.values()
            for sub in self.users
        ]
        received = verified(self.tokens(), jwks)
        return Tally.of(drill, received, expected, delivered_count(self.deliveries()))

    def _times(self, name: str, **conditions: Any) -> dict[Pair, datetime]:
        """The time field ``name`` of the deliveries (those that meet ``conditions``) where
        it is set, by pair."""
        deliveries = self.deliveries().filter(**conditions).exclude(**{name: None})
        rows = deliveries.values_list("application_id", "event__sub", name)
        return {(application_id, sub): at for application_id, sub, at in rows}

    def kill(self, pids: list[int], *, after: int) -> InFlight:
        """Once the applications have answered ``after`` POSTs, at a moment when some are in
        flight (received, not answered yet: the farm should answer after a delay), SIGKILL the
        drill's worker (:func:`kill_worker`, the only one sending to the farm; ``pids``, read
        by :meth:`Worker.pids` while it was idle); wait until the farm has read all it sent
        (none of its connections is left open), and say what it had in flight."""
        wait_for(
            lambda: self.farm.requests() >= after and self.farm.unanswered() > 0,
            DRILL_SECONDS,
            f"the applications did not receive {after} POSTs",
        )
        kill_worker(pids)
        wait_for(
            lambda: self.farm.connections() == 0,
            DRILL_SECONDS,
            "the killed worker's connections stayed open",
        )
        pending = self._times("next_attempt_at", state=DeliveryState.PENDING)
        # Read unverified: the tally verifies them all.
        received = {
            (application.pk, unverified_sub(token))
            for application, tokens in self.tokens().items()
            for token in tokens
        }
        return InFlight(
            lease_ends={pair: pending[pair] for pair in received if pair in pending},
            delivered=delivered_count(self.deliveries()),
        )

    def check_sent_again(self, drill: str, in_flight: InFlight, result: Tally) -> None:
        """Only what was in flight when the worker died was sent twice, and not before its
        claim's lease ran out (the sweeper took it over then); print when."""
        assert result.repeated <= in_flight.lease_ends.keys(), (
            f"sent twice though not in flight: {result.repeated - in_flight.lease_ends.keys()}"
        )
        delivered_at = self._times("delivered_at")
        after_lease = [
            (delivered_at[pair] - in_flight.lease_ends[pair]).total_seconds()
            for pair in result.repeated
            if pair in delivered_at  # Not delivered: the tally's ``delivered`` tells.
        ]
        print(
            f"[{drill}] in flight when killed: {len(in_flight.lease_ends)}; sent again and "
            f"acknowledged {min(after_lease, default=0):.1f} to "
            f"{max(after_lease, default=0):.1f} s after their lease ran out "
            f"(lease {lease_seconds():.1f} s)"
        )
        # A worker of one process has one batch in flight at most.
        assert len(in_flight.lease_ends) <= app_settings.DELIVERY_CONCURRENCY, in_flight
        assert all(seconds >= 0 for seconds in after_lease), after_lease


# --- The hub and its workers -----------------------------------------------------------------


@dataclass(frozen=True)
class Worker:
    """A worker process of a drill: its name and its log."""

    name: str
    log: Path

    def pids(self) -> list[int]:
        """Its main process and its prefork pool's children."""
        stats = celery_app.control.inspect(destination=[self.name], timeout=2).stats() or {}
        assert self.name in stats, f"worker {self.name} did not answer: {stats}"
        return [int(stats[self.name]["pid"]), *map(int, stats[self.name]["pool"]["processes"])]

    def failed_tasks(self) -> int:
        """How many tasks it reported as failed (each with its traceback in its log)."""
        return self.log.read_text().count(" raised unexpected: ")

    def gave_up(self) -> bool:
        """Whether it stopped on an error it does not recover from (it then exits)."""
        return "Unrecoverable error" in self.log.read_text()

    def answers(self) -> bool:
        """Whether it answers a ping; not when the broker drops this process's connection
        (the first use after a restart: the next ping reconnects)."""
        with celery_app.connection_for_write() as broker:
            try:
                return bool(celery_app.control.ping(destination=[self.name], timeout=0.5))
            except broker.connection_errors:
                return False


@dataclass
class DrillHub:
    """Organization ``acme`` on the logout service with quick retries (1 to 2 s, 50 attempts),
    and the settings and queue of the hub's workers."""

    organization: Organization
    pem: str
    log_dir: Path
    settings: Any  # This process's (it records the logouts, and claims them for the workers).
    #: The queue every worker of the drill takes, one after the other: a worker started after
    #: another was killed (or stopped) finds the messages it left (as a restarted worker would).
    queue: str = field(default_factory=lambda: f"logout_sso_drills_{uuid.uuid4().hex[:12]}")

    def applications(self, farm: ReceiverFarm) -> dict[int, Application]:
        """An application of the organization on each of the farm's ports, by port (in one
        transaction: one commit, not a few per application)."""
        with transaction.atomic():
            return {
                port: register_application(f"app-{port}", self.organization, uri=farm.url(port))[0]
                for port in farm.ports
            }

    def fan_out(
        self,
        farm: ReceiverFarm,
        applications: dict[int, Application],
        *,
        users: int,
        prefix: str = "user",
    ) -> FanOut:
        """``users`` users (``<prefix>-0000``...) each signed in to every one of
        ``applications``."""
        subs = [f"{prefix}-{number:04}" for number in range(users)]
        TrackedSession.objects.bulk_create(
            TrackedSession(
                application=application,
                organization=self.organization,
                issuer=IDP_ISSUER,
                sub=sub,
                session_id=f"{sub}-{application.pk}",
            )
            for application in applications.values()
            for sub in subs
        )
        return FanOut(self.organization, farm, applications, subs)

    def configure(self, **extra: Any) -> dict[str, Any]:
        """Give this process the hub's ``LOGOUT_SSO``: :data:`TIMEOUTS` and ``extra``
        settings (which may override them); return it and the IdP's issuer, the settings a
        worker takes too."""
        self.settings.LOGOUT_SSO = hub_logout_sso(self.pem, **{**TIMEOUTS, **extra})
        return {"LOGOUT_SSO": self.settings.LOGOUT_SSO, "OIDC_OP_ISSUER": IDP_ISSUER}

    @contextmanager
    def worker(self, broker_url: str, *, concurrency: int = 1, **extra: Any) -> Iterator[Worker]:
        """A hub worker process of ``concurrency`` pool processes on ``broker_url`` (Redis,
        or another broker) and the drill's queue, with the settings :meth:`configure` gives
        this process and ``extra`` (the processes of one deployment share their settings), on
        this process's database of the moment (a drill may have swapped it), keeping its
        connection between tasks as docs/deployment.md says (:data:`CONN_MAX_AGE`,
        ``CONN_HEALTH_CHECKS``, :data:`DB_REUSE_MAX`)."""
        database = {
            **connection.settings_dict,
            "CONN_MAX_AGE": CONN_MAX_AGE,
            "CONN_HEALTH_CHECKS": True,
        }
        overrides = {
            **self.configure(**extra),
            "DATABASES": {DEFAULT_DB_ALIAS: database},
            "CELERY_DB_REUSE_MAX": DB_REUSE_MAX,
        }
        log_dir = self.log_dir / uuid.uuid4().hex[:8]
        log_dir.mkdir()
        with running_worker(
            broker_url, database["NAME"], log_dir, overrides, concurrency, self.queue
        ) as name:
            yield Worker(name, log_dir / "worker.log")


@pytest.fixture
def drill_hub(hub_settings: Any, hub_ec_pem: str, tmp_path: Path) -> DrillHub:
    """The drills' hub (:class:`DrillHub`), in this process's database of the moment; tests
    using it commit their data for the workers to see it:
    ``@pytest.mark.django_db(transaction=True)`` (or a database of their own, set up by a
    fixture they name before this one)."""
    acme = Organization.objects.create(slug="acme", name="Acme")
    hub_policy(
        acme, delivery_backoff_seconds=1, delivery_backoff_max_seconds=2, delivery_max_attempts=50
    )
    hub = DrillHub(organization=acme, pem=hub_ec_pem, log_dir=tmp_path, settings=hub_settings)
    hub.configure()
    return hub


@contextmanager
def timed(drill: str) -> Iterator[None]:
    """Print how long the drill took (what the ``with`` block took)."""
    started = time.monotonic()
    yield
    print(f"[{drill}] took {time.monotonic() - started:.1f} s")


def sweep_until(done: Callable[[], bool], timeout: float, message: str) -> None:
    """Queue the sweeper task every :data:`SWEEP_EVERY` seconds, as Celery beat would, until
    ``done()``."""
    next_sweep = 0.0

    def swept_and_done() -> bool:
        nonlocal next_sweep
        if time.monotonic() >= next_sweep:
            tasks.send_due_deliveries.delay()
            next_sweep = time.monotonic() + SWEEP_EVERY
        return done()

    wait_for(swept_and_done, timeout, message)


# --- Killing a worker ------------------------------------------------------------------------


def process_gone(pid: int) -> bool:
    """Whether ``pid`` has exited (gone, or a zombie nobody reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def kill_worker(pids: list[int]) -> None:
    """SIGKILL the worker: its main process and its pool's children, as a crash would."""
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_for(lambda: all(process_gone(pid) for pid in pids), 10, f"worker {pids} outlived SIGKILL")
