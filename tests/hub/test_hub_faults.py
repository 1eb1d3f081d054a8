"""Faults the hub's deliveries survive (issue 6, "Durable"): a worker killed mid-fan-out, an
application down for a while. None may lose a delivery. (Redis restarted with its data lost,
PostgreSQL restarted and RabbitMQ's connections dropped: test_hub_infrastructure_faults.py.)

Each scenario runs real ``celery worker`` processes (tests/services.py's ``running_worker``,
whose lifetime the test controls: it kills one with SIGKILL) on Redis and the test database,
sending to real threaded receivers on loopback that count every POST. Each test verifies every
token it received with logout_sso's own receiver code and prints three numbers:

- delivered: deliveries in state ``delivered``;
- lost: applications that should have received a logout token and never did;
- duplicated: POSTs beyond one per application.

Time is scaled down: connect and read timeouts of 0.5 s and 1 s (so a claim's lease is 6.5 s,
see ``claims.lease_seconds``; 3 s and 8.5 s where applications take 2 s to answer), retries
after 1 to 2 s, a sweeper every second (``SWEEP_EVERY``) as Celery beat would queue it every
30 s, and "down for a while" is eight seconds; "down for ten minutes" keeps the default retry
policy and moves the clock on between attempts instead.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from logout_sso import api, tasks
from logout_sso.hub.internal import claims as claiming
from logout_sso.hub.internal import sender
from logout_sso.hub.internal.outbox import record_logout
from logout_sso.models import (
    Application,
    Delivery,
    LogoutEvent,
    LogoutPolicy,
    Organization,
    OrganizationLogoutJob,
)
from logout_sso.models.events import DeliveryState, Initiator
from logout_sso.models.jobs import JobState
from tests.celery_app import app as celery_app
from tests.hub_receivers import (
    IDP_ISSUER,
    JsonServer,
    Receiver,
    hub_logout_sso,
    hub_policy,
    register_application,
    slow,
    track_session,
    validate_as_receiver,
)
from tests.services import (
    database_name,
    running_worker,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 1.0
#: How often the sweeper task is queued (Celery beat's job in production).
SWEEP_EVERY = 1.0
SETTLE_SECONDS = 30.0


# --- The hub, its workers and its sweeper ----------------------------------------------------


@dataclass
class FaultHub:
    """Organization ``acme`` on the logout service, with quick retries, and the settings of
    the hub's workers."""

    acme: Organization
    pem: str
    database: str
    log_dir: Path
    settings: Any  # This process's (it records the logouts, and claims them for the workers).

    def application(self, name: str, receiver: Receiver) -> Application:
        """An application of acme, with a live session of user-1, receiving at ``receiver``."""
        application, _ = register_application(name, self.acme, uri=receiver.url)
        track_session(application, self.acme, "user-1", sid="sid-1")
        return application

    def report_logout(self) -> int:
        """user-1 logs out everywhere: the event and its deliveries are committed, then the
        "go" message is published (to whatever broker the tests' Celery app points at)."""
        event = record_logout(
            initiator=Initiator.ADMIN, issuer=IDP_ISSUER, sub="user-1", organization=self.acme
        )
        return event.pk

    @contextmanager
    def worker(
        self, broker_url: str, read_timeout: float = READ_TIMEOUT, **extra: Any
    ) -> Iterator[str]:
        """A hub worker process (its name), with the scaled-down timeouts and ``extra``
        settings, which this process takes too (as the processes of one deployment share
        their settings)."""
        timeouts = {
            "DELIVERY_CONNECT_TIMEOUT": CONNECT_TIMEOUT,
            "DELIVERY_READ_TIMEOUT": read_timeout,
        }
        self.settings.LOGOUT_SSO = hub_logout_sso(self.pem, **timeouts, **extra)
        overrides = {"LOGOUT_SSO": self.settings.LOGOUT_SSO, "OIDC_OP_ISSUER": IDP_ISSUER}
        log_dir = self.log_dir / uuid.uuid4().hex[:8]
        log_dir.mkdir()
        with running_worker(broker_url, self.database, log_dir, overrides) as name:
            yield name


@pytest.fixture
def hub(hub_settings: Any, hub_rsa_pem: str, django_db_blocker: Any, tmp_path: Path) -> FaultHub:
    hub_settings.LOGOUT_SSO = hub_logout_sso(
        hub_rsa_pem, DELIVERY_CONNECT_TIMEOUT=CONNECT_TIMEOUT, DELIVERY_READ_TIMEOUT=READ_TIMEOUT
    )
    acme = Organization.objects.create(slug="acme", name="Acme")
    hub_policy(
        acme,
        delivery_backoff_seconds=1,
        delivery_backoff_max_seconds=2,
        delivery_max_attempts=50,
    )
    return FaultHub(
        acme=acme,
        pem=hub_rsa_pem,
        database=database_name(django_db_blocker),
        log_dir=tmp_path,
        settings=hub_settings,
    )


def delivered_count() -> int:
    return Delivery.objects.filter(state=DeliveryState.DELIVERED).count()


def sweep_until(done: Callable[[], bool], timeout: float, message: str) -> None:
    """Queue the sweeper task every ``SWEEP_EVERY`` seconds, as Celery beat would, until
    ``done()``."""
    next_sweep = 0.0

    def swept_and_done() -> bool:
        nonlocal next_sweep
        if time.monotonic() >= next_sweep:
            tasks.send_due_deliveries.delay()
            next_sweep = time.monotonic() + SWEEP_EVERY
        return done()

    wait_for(swept_and_done, timeout, message)


def sweep_until_delivered(expected: int, timeout: float = SETTLE_SECONDS) -> None:
    """:func:`sweep_until` ``expected`` deliveries are delivered."""
    sweep_until(
        lambda: delivered_count() == expected,
        timeout,
        f"the sweeper did not deliver all {expected} deliveries",
    )


# --- Counting what the applications received -------------------------------------------------


@dataclass(frozen=True)
class Tally:
    delivered: int
    lost: int
    duplicated: int


def tally(scenario: str, by_application: dict[Application, Receiver], jwks: JsonServer) -> Tally:
    """Verify every token each application received, as that application; count."""
    for application, receiver in by_application.items():
        for token in receiver.tokens:
            accepted = validate_as_receiver(
                token, audience=application.client_id, jwks_uri=jwks.url
            )
            assert (accepted.issuer, accepted.sub, accepted.sid) == (IDP_ISSUER, "user-1", "")
    posts = [len(receiver.received) for receiver in by_application.values()]
    result = Tally(
        delivered=delivered_count(),
        lost=posts.count(0),
        duplicated=sum(max(0, count - 1) for count in posts),
    )
    print(
        f"\n[{scenario}] delivered={result.delivered} lost={result.lost} "
        f"duplicated={result.duplicated} (POSTs per application: {posts})"
    )
    return result


# --- Killing a worker ------------------------------------------------------------------------


def worker_pids(name: str) -> list[int]:
    """The worker's main process and its prefork pool's children."""
    stats = celery_app.control.inspect(destination=[name], timeout=2).stats() or {}
    assert name in stats, f"worker {name} did not answer: {stats}"
    return [int(stats[name]["pid"]), *map(int, stats[name]["pool"]["processes"])]


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


# --- The scenarios ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_fan_out_loses_no_delivery(
    hub: FaultHub, receivers: Callable[..., Receiver], hub_jwks: JsonServer, redis_url: str
) -> None:
    # The applications answer after 2 s: the read timeout is 3 s so that they are slow, not
    # failing (a lease of 0.5 + 3 + 5 = 8.5 s).
    by_application = {
        hub.application(f"app-{index}", receiver): receiver
        for index, receiver in enumerate(receivers([slow(2.0)]) for _ in range(10))
    }

    with hub.worker(redis_url, read_timeout=3.0) as name:
        pids = worker_pids(name)
        hub.report_logout()
        wait_for(
            lambda: any(receiver.received for receiver in by_application.values()),
            SETTLE_SECONDS,
            "no application received a POST",
        )
        kill_worker(pids)
        # Killed before any answer came back: nothing was recorded, every delivery is claimed.
        assert set(Delivery.objects.values_list("state", "attempts")) == {("pending", 0)}
        assert not Delivery.objects.filter(claim="").exists()

    with hub.worker(redis_url, read_timeout=3.0):
        # The POSTs the killed worker had sent (all arrived by now: it has been dead for the
        # time a worker takes to start).
        in_flight = sum(len(receiver.received) for receiver in by_application.values())
        sweep_until_delivered(len(by_application))

    result = tally("worker killed mid-fan-out", by_application, hub_jwks)
    # The killed worker's claims held for their lease, then the sweeper took them over.
    lease = CONNECT_TIMEOUT + 3.0 + claiming.LEASE_MARGIN_SECONDS
    gaps = [
        receiver.received[1].at - receiver.received[0].at
        for receiver in by_application.values()
        if len(receiver.received) == 2
    ]
    print(
        f"[worker killed mid-fan-out] POSTs in flight when killed: {in_flight}; "
        f"sent again after {min(gaps, default=0):.1f} to {max(gaps, default=0):.1f} s "
        f"(lease {lease:.1f} s)"
    )
    assert all(lease - 0.5 <= gap < lease + 5 for gap in gaps), gaps
    assert result.delivered == 10
    assert result.lost == 0
    assert result.duplicated <= in_flight  # At least once: only in-flight POSTs are repeated.
    assert all(len(receiver.received) <= 2 for receiver in by_application.values())
    assert set(Delivery.objects.values_list("state", "attempts")) == {("delivered", 1)}


#: "Down for ten minutes", scaled down.
DOWN_SECONDS = 8.0


@pytest.mark.django_db(transaction=True)
def test_application_down_for_a_while_is_delivered_once_it_is_up(
    hub: FaultHub, receivers: Callable[..., Receiver], hub_jwks: JsonServer, redis_url: str
) -> None:
    down, fast = receivers(listening=False), receivers()
    down_application = hub.application("down", down)
    by_application = {down_application: down, hub.application("fast", fast): fast}

    with hub.worker(redis_url):
        hub.report_logout()
        down.start_after(DOWN_SECONDS)

        def retried() -> Delivery | None:
            delivery = Delivery.objects.get(application=down_application)
            return delivery if delivery.attempts >= 3 else None

        while_down: Delivery = wait_for(retried, DOWN_SECONDS, "no retries while it was down")
        assert down.started_at is None, "the application came up before its third attempt"
        assert while_down.state == DeliveryState.PENDING
        assert while_down.last_status is None
        assert "Connection refused" in while_down.last_error, while_down.last_error
        assert down.received == []
        # The worker retries it by itself (countdown retries), no sweeper needed.
        wait_for(
            lambda: delivered_count() == 2,
            DOWN_SECONDS + SETTLE_SECONDS,
            "the application's delivery was not delivered once it came up",
        )

    result = tally("application down for a while", by_application, hub_jwks)
    down_delivery = Delivery.objects.get(application=down_application)
    print(
        f"[application down for a while] attempts while down, then delivered: "
        f"{down_delivery.attempts}"
    )
    assert result == Tally(delivered=2, lost=0, duplicated=0)
    assert down_delivery.attempts > while_down.attempts
    assert down.started_at is not None
    [request] = down.received
    # Delivered within the longest backoff (2 s) after it came up, plus scheduling slack.
    assert 0 <= request.at - down.started_at < 2 + 2
    fast_delivery = Delivery.objects.get(application__name="fast")
    assert (fast_delivery.state, fast_delivery.attempts) == ("delivered", 1)
    assert down_delivery.event.outcome == "completed"


#: What "down for ten minutes" means below, in the retry schedule's own time.
TEN_MINUTES = 600.0


@pytest.mark.django_db(transaction=True)
def test_application_down_for_ten_minutes_is_delivered_with_the_default_retry_policy(
    hub: FaultHub,
    receivers: Callable[..., Receiver],
    hub_jwks: JsonServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each attempt is real (a POST to a port nobody listens on); between attempts the clock is
    moved on by the delay the policy chose, so ten minutes of retries take a second. With the
    default policy (12 attempts, 2 s doubling to 300 s, half of each delay random) the shortest
    possible schedule spans 705 s: an application down for ten minutes is still retried."""
    policy = LogoutPolicy()  # The defaults, on acme.
    hub_policy(
        hub.acme,
        delivery_max_attempts=policy.delivery_max_attempts,
        delivery_backoff_seconds=policy.delivery_backoff_seconds,
        delivery_backoff_max_seconds=policy.delivery_backoff_max_seconds,
    )
    down = receivers(listening=False)
    application = hub.application("down", down)
    monkeypatch.setattr(tasks.deliver_event, "delay", lambda *message: None)
    hub.report_logout()
    elapsed = 0.0

    while elapsed < TEN_MINUTES:
        sender.send_due()
        delivery = Delivery.objects.get(application=application)
        assert delivery.state == DeliveryState.PENDING, (
            f"gave up after {delivery.attempts} attempts, {elapsed:.0f} s down"
        )
        assert delivery.next_attempt_at is not None
        elapsed += (delivery.next_attempt_at - timezone.now()).total_seconds()
        # The delay passes: the retry comes due now.
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    down.start()
    sender.send_due()

    delivery = Delivery.objects.get(application=application)
    print(
        f"\n[application down for ten minutes] {delivery.attempts - 1} attempts over "
        f"{elapsed:.0f} s of retry schedule, then delivered"
    )
    assert (delivery.state, delivery.last_status) == ("delivered", 200)
    assert tally("application down for ten minutes", {application: down}, hub_jwks) == Tally(
        delivered=1, lost=0, duplicated=0
    )


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_organization_logout_skips_no_user(
    hub: FaultHub, receivers: Callable[..., Receiver], hub_jwks: JsonServer, redis_url: str
) -> None:
    # 200 users with a session in each of two applications, logged out 10 at a time; the
    # applications answer after 50 ms, so the job is still under way when its worker dies.
    users = [f"user-{number:03}" for number in range(200)]
    by_application = {}
    for index in range(2):
        receiver = receivers([slow(0.05)])
        application, _ = register_application(f"app-{index}", hub.acme, uri=receiver.url)
        for sub in users:
            track_session(application, hub.acme, sub)
        by_application[application] = receiver
    batch = {"ORGANIZATION_LOGOUT_BATCH_SIZE": 10}

    with hub.worker(redis_url, **batch) as name:
        pids = worker_pids(name)
        job = api.log_out_organization(hub.acme)
        wait_for(
            lambda: OrganizationLogoutJob.objects.get(pk=job.pk).users_done >= 20,
            SETTLE_SECONDS,
            "the job did not start",
        )
        kill_worker(pids)
    done_when_killed = OrganizationLogoutJob.objects.get(pk=job.pk).users_done
    assert done_when_killed < len(users), "the job ended before its worker was killed"

    with hub.worker(redis_url, **batch):
        # The killed worker's message stays unacknowledged in Redis (until the visibility
        # timeout): the sweeper takes the job up again once it has not moved for 4 leases.
        sweep_until(
            lambda: (
                delivered_count() == 2 * len(users)
                and OrganizationLogoutJob.objects.get(pk=job.pk).state == JobState.DONE
            ),
            120,
            "the job was not finished and every delivery delivered",
        )

    job.refresh_from_db()
    per_user = Counter(LogoutEvent.objects.filter(job=job).values_list("sub", flat=True))
    received = Counter(
        validate_as_receiver(token, audience=application.client_id, jwks_uri=hub_jwks.url).sub
        for application, receiver in by_application.items()
        for token in receiver.tokens
    )
    duplicated = sum(count - 2 for count in received.values())
    print(
        f"\n[worker killed mid-organization-logout] users done when killed: {done_when_killed}"
        f"/{len(users)}; delivered={delivered_count()} lost={len(set(users) - set(received))} "
        f"duplicated={duplicated}"
    )
    assert (job.state, job.users_done) == (JobState.DONE, len(users))
    assert per_user == dict.fromkeys(users, 1)  # No user skipped, none logged out twice.
    assert set(received) == set(users)
    assert all(count >= 2 for count in received.values())
