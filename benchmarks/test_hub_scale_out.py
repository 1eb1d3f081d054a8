"""Throughput with scale-out (issue 15): 100,000 deliveries sent by real worker processes, 1, 2
and 4 of them, on Redis and on RabbitMQ.

1,000 users, each signed in to 100 applications (receivers answering 200 at once, in a process
of their own that counts the requests), log out. Each logout is recorded as an application's
``POST /sso/api/logouts/`` records it (``record_logout``: the event and its 100 deliveries
written already claimed, in one transaction), its messages held back; then a real
``celery worker`` (prefork, ``--concurrency`` 1, 2 or 4, keeping its database connection)
runs and every message is queued at once. That is the backlog a burst of single logouts leaves
(the path ``DELIVERY_TASKS_PER_EVENT`` splits; an organization-wide job writes its deliveries a
batch at a time as it goes: ``test_organization_logout.py``).

Measured, from the first message queued to the last ``delivered_at``: deliveries per second,
against the 1-process figure of the same run; the CPU time each kind of process spent meanwhile
(the worker's processes, the receivers, the database's backends, the broker, the test process
queueing the messages), per delivery, and how busy the machine's cores were. The counts are
exact: every delivery delivered, every POST answered once.

Sizes from the environment: ``BENCH_SCALE_DELIVERIES`` (default 100,000: 100 applications and
a hundredth as many users), ``BENCH_SCALE_PROCESSES`` (default ``1,2,4``), ``BENCH_SCALE_RUNS``
(default 1), ``BENCH_SCALE_TASKS_PER_EVENT`` (default 1), ``BENCH_SCALE_ALGORITHM`` (default
ES256, the key the deployment page recommends for throughput), ``BENCH_SCALE_BROKERS`` (default
``redis,rabbitmq``), ``RABBITMQ_URL`` (default ``amqp://guest:guest@127.0.0.1:5672//``).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection
from django.db.models import Min
from django.utils import timezone
from kombu import Connection, Exchange, Queue

from benchmarks.hub_setup import (
    IDP,
    KEYS,
    applications,
    counting_receivers,
    percentile_95,
    sign_in_everyone,
)
from benchmarks.test_hub_end_to_end import HUB, all_sent, kept_alive
from benchmarks.test_rp_costs import record
from logout_sso import tasks
from logout_sso.hub.internal.claims import attempt_seconds, lease_seconds
from logout_sso.hub.internal.outbox import record_logout
from logout_sso.models import Delivery, LogoutEvent, Organization, TrackedSession
from logout_sso.models.events import DeliveryState, Initiator
from tests.receiver_farm import ReceiverFarm
from tests.services import database_name, running_worker, wait_for

APPLICATIONS = 100
DELIVERIES = int(os.environ.get("BENCH_SCALE_DELIVERIES", "100000"))
USERS = DELIVERIES // APPLICATIONS
PROCESSES = [int(n) for n in os.environ.get("BENCH_SCALE_PROCESSES", "1,2,4").split(",")]
RUNS = int(os.environ.get("BENCH_SCALE_RUNS", "1"))
TASKS_PER_EVENT = int(os.environ.get("BENCH_SCALE_TASKS_PER_EVENT", "1"))
ALGORITHM = os.environ.get("BENCH_SCALE_ALGORITHM", "ES256")
BROKERS = os.environ.get("BENCH_SCALE_BROKERS", "redis,rabbitmq").split(",")
RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
#: The longest a run may take to deliver everything.
DEADLINE_SECONDS = 900
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")

#: CPU seconds so far, by kind of process, then by process (or server).
Readings = dict[str, dict[object, float]]


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far; 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()  # fields[0] is the state, field 3 of proc(5)
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND


def pids_with(marker: str) -> list[int]:
    """The processes whose command line contains ``marker`` (a prefork worker's pool processes
    have their parent's)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def database_backends() -> list[int]:
    """The PostgreSQL backends connected to the test database, but this process's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [pid for (pid,) in cursor.fetchall()]


def broker_cpu(broker_url: str) -> dict[object, float]:
    """The broker server's CPU seconds so far (all of it: other test runs use it too)."""
    if broker_url.startswith("redis"):
        info = redis.Redis.from_url(broker_url).info("cpu")
        return {"redis-server": float(info["used_cpu_user"]) + float(info["used_cpu_sys"])}
    return {pid: cpu_of(pid) for pid in pids_with("beam.smp")}


def machine_busy() -> float:
    """CPU seconds every core of the machine spent busy so far (anyone's)."""
    # user nice system idle iowait irq softirq steal: all but idle and iowait.
    ticks = [int(value) for value in Path("/proc/stat").read_text().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICKS_PER_SECOND


def readings(worker: str, receivers: ReceiverFarm, broker_url: str) -> Readings:
    """CPU seconds so far of each kind of process taking part."""
    kinds: Readings = {
        "worker": {pid: cpu_of(pid) for pid in pids_with(worker)},
        "receivers": {receivers.process.pid: cpu_of(receivers.process.pid)},
        "broker": broker_cpu(broker_url),
        "machine": {"all": machine_busy()},
    }
    if connection.vendor == "postgresql":
        kinds["database"] = {pid: cpu_of(pid) for pid in database_backends()}
    return kinds


def spent(before: Readings, after: Readings) -> dict[str, float]:
    """CPU seconds spent by each kind between two readings (a process new since counts whole)."""
    return {
        kind: sum(seconds - before[kind].get(key, 0.0) for key, seconds in by_key.items())
        for kind, by_key in after.items()
    }


def record_everyone(organization: Organization, users: int = USERS) -> list[tuple[int, str]]:
    """Each user's logout recorded as the API records it; return the messages its commit
    would have queued (event id, claim), held back."""
    messages: list[tuple[int, str]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tasks.deliver_event, "delay", lambda *message: messages.append(message))
        for number in range(users):
            record_logout(
                initiator=Initiator.API,
                issuer=IDP,
                sub=f"user-{number:06}",
                organization=organization,
            )
    return messages


def analyze() -> None:
    """Fresh planner statistics, as autovacuum would have them after such inserts (it is off on
    this machine's PostgreSQL)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def forget_everything() -> None:
    """Delete the run's rows, so that every run starts from the same tables."""
    Delivery.objects.all().delete()
    LogoutEvent.objects.all().delete()
    TrackedSession.objects.all().delete()


def delete_queue(broker_url: str, queue: str) -> None:
    """Delete a worker's queue and its exchange, of the same name (the broker keeps them
    otherwise; other people use that server)."""
    with Connection(broker_url) as broker:
        Queue(queue).bind(broker.default_channel).delete()
        Exchange(queue).bind(broker.default_channel).delete()


def tenths(started: Any, delivered_at: list[Any]) -> list[float]:
    """Deliveries per second over each tenth of the deliveries, in order."""
    marks = [started] + [delivered_at[len(delivered_at) * k // 10 - 1] for k in range(1, 11)]
    share = len(delivered_at) / 10
    return [
        round(share / max((end - start).total_seconds(), 1e-6)) for start, end in pairwise(marks)
    ]


def one_run(
    broker_url: str,
    processes: int,
    label: str,
    organization: Organization,
    overrides: dict[str, Any],
    database: str,
    log_dir: Path,
) -> dict[str, Any]:
    """Record every logout, start a worker of ``processes`` processes, queue every message and
    wait for the last acknowledgement; return what was measured."""
    receivers = counting_receivers(APPLICATIONS, 0.0)
    answered = None
    queue = f"bench_logout_sso_scale_{uuid.uuid4().hex[:12]}"
    try:
        apps = applications(organization, receivers.ports, label)
        sign_in_everyone(organization, apps, USERS)
        setup_started = time.monotonic()
        messages = record_everyone(organization)
        record_seconds = time.monotonic() - setup_started
        analyze()
        log_dir.mkdir()
        worker = running_worker(
            broker_url, database, log_dir, overrides, concurrency=processes, queue=queue
        )
        with worker as name:
            load_before = Path("/proc/loadavg").read_text().split()[0]
            before = readings(name, receivers, broker_url)
            started = timezone.now()
            queueing = time.process_time()
            for message in messages:
                tasks.deliver_event.apply_async(message)
            queueing = time.process_time() - queueing
            pending = Delivery.objects.filter(state=DeliveryState.PENDING)
            wait_for(partial(all_sent, pending), DEADLINE_SECONDS, "not everything was delivered")
            after = readings(name, receivers, broker_url)
            load_after = Path("/proc/loadavg").read_text().split()[0]
    finally:
        answered = receivers.close()
        delete_queue(broker_url, queue)
    delivered = Delivery.objects.filter(state=DeliveryState.DELIVERED)
    times = delivered.values_list("delivered_at", flat=True)
    delivered_at = sorted(at for at in times if at is not None)
    seconds = (delivered_at[-1] - started).total_seconds()
    # A task that starts with less of its claim's lease left than an attempt may take claims
    # its deliveries again first (one UPDATE more): those that started that late.
    late_ms = (lease_seconds() - attempt_seconds()) * 1000
    late = delivered.values("event_id").annotate(first=Min("latency_ms")).filter(first__gt=late_ms)
    cpu = spent(before, after)
    machine = cpu.pop("machine")
    result = {
        "processes": processes,
        "deliveries": len(delivered_at),
        "posts_answered": answered,
        "tasks": len(messages),
        "seconds": round(seconds, 2),
        "deliveries_per_s": round(len(delivered_at) / seconds),
        "deliveries_per_s_by_tenth": tenths(started, delivered_at),
        "cpu_ms_per_delivery": {
            kind: round(used * 1e3 / len(delivered_at), 4) for kind, used in cpu.items()
        }
        | {"queueing (test process)": round(queueing * 1e3 / len(delivered_at), 4)},
        "machine_cores_busy": round(machine / seconds, 2),
        "tasks_started_late": late.count(),
        "record_seconds": round(record_seconds, 1),
        "loadavg_before_after": f"{load_before} / {load_after}",
    }
    forget_everything()
    return result


def table(broker: str, results: dict[int, list[dict[str, Any]]]) -> str:
    """The runs as a Markdown table, one row per number of processes."""
    baseline = statistics.median(run["deliveries_per_s"] for run in results[PROCESSES[0]])
    kinds = list(results[PROCESSES[0]][0]["cpu_ms_per_delivery"])
    lines = [
        f"| {broker}, processes | deliveries/s (each run) | median | vs {PROCESSES[0]} | cores "
        "busy | " + " | ".join(f"CPU ms/delivery: {kind}" for kind in kinds) + " | load |",
        "| --- " * (6 + len(kinds)) + "|",
    ]
    for processes, runs in results.items():
        rates = [run["deliveries_per_s"] for run in runs]
        cpu = [
            statistics.median(run["cpu_ms_per_delivery"][kind] for run in runs) for kind in kinds
        ]
        lines.append(
            f"| {processes} | {', '.join(f'{rate:,}' for rate in rates)} | "
            f"{statistics.median(rates):,.0f} | {statistics.median(rates) / baseline:.2f}x | "
            f"{statistics.median(run['machine_cores_busy'] for run in runs):.2f} | "
            + " | ".join(f"{value:.3f}" for value in cpu)
            + f" | {', '.join(run['loadavg_before_after'] for run in runs)} |"
        )
    return "\n".join(lines)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("broker", BROKERS)
def test_throughput_with_scale_out(
    broker: str, settings: Any, redis_url: str, django_db_blocker: Any, tmp_path: Path
) -> None:
    broker_url = redis_url if broker == "redis" else RABBITMQ_URL
    hub = {
        **HUB,
        "HUB_SIGNING_KEY": KEYS[ALGORITHM],
        "DELIVERY_TASKS_PER_EVENT": TASKS_PER_EVENT,
    }
    settings.LOGOUT_SSO = hub  # The recording's claims are dealt out as the workers' are.
    # Each pool process keeps one connection for the whole run (Celery would close it after
    # CELERY_DB_REUSE_MAX tasks: a reconnection, about 8 ms, but its backend's CPU lost).
    overrides = {
        "LOGOUT_SSO": hub,
        **kept_alive(django_db_blocker),
        "CELERY_DB_REUSE_MAX": USERS * TASKS_PER_EVENT + 1,
    }
    database = database_name(django_db_blocker)
    organization = Organization.objects.create(slug="acme", name="Acme")
    results: dict[int, list[dict[str, Any]]] = {processes: [] for processes in PROCESSES}
    for run in range(RUNS):  # Interleaved: every worker count sees the same machine noise.
        for processes in PROCESSES:
            label = f"run{run}-p{processes}"
            result = one_run(
                broker_url, processes, label, organization, overrides, database, tmp_path / label
            )
            print(f"\n{broker}, {label}: {result}", flush=True)
            assert result["deliveries"] == DELIVERIES
            assert result["posts_answered"] == DELIVERIES  # None lost, none sent twice.
            results[processes].append(result)
    summary = {
        "database": connection.vendor,
        "algorithm": ALGORITHM,
        "applications": APPLICATIONS,
        "users": USERS,
        "tasks_per_event": TASKS_PER_EVENT,
        "runs": RUNS,
    }
    for processes, runs in results.items():
        times = [run["seconds"] for run in runs]
        summary[f"{processes}_processes"] = {
            "deliveries_per_s_median": round(DELIVERIES / statistics.median(times)),
            "seconds_median": statistics.median(times),
            "seconds_p95": percentile_95(times),
            "runs": runs,
        }
    print("\n" + table(broker, results))
    record(f"hub_scale_out_{broker}_{connection.vendor}_{ALGORITHM}", summary)


PROFILE = os.environ.get("BENCH_SCALE_PROFILE", "")
PROFILED_USERS = 100


@pytest.mark.skipif(not PROFILE, reason="BENCH_SCALE_PROFILE names the profile's file")
@pytest.mark.django_db(transaction=True)
def test_one_worker_profile(settings: Any) -> None:
    """A worker's task body in this process, over 10,000 deliveries: its CPU per delivery
    unprofiled, then pyinstrument's profile of another 10,000 (HTML in ``BENCH_SCALE_PROFILE``,
    text printed)."""
    pyinstrument = pytest.importorskip("pyinstrument")
    settings.LOGOUT_SSO = {**HUB, "HUB_SIGNING_KEY": KEYS[ALGORITHM]}
    organization = Organization.objects.create(slug="acme", name="Acme")
    receivers = counting_receivers(APPLICATIONS, 0.0)
    try:
        rounds = []
        for label in ("plain", "profiled"):
            apps = applications(organization, receivers.ports, label)
            sign_in_everyone(organization, apps, PROFILED_USERS)
            rounds.append(record_everyone(organization, PROFILED_USERS))
        analyze()
        tasks.deliver_event.apply(rounds[0][0])  # Warm: imports, connections, key.
        cpu = time.process_time()
        for message in rounds[0][1:]:
            tasks.deliver_event.apply(message)
        cpu = time.process_time() - cpu
        profiler = pyinstrument.Profiler(interval=0.0005)
        with profiler:
            for message in rounds[1]:
                tasks.deliver_event.apply(message)
    finally:
        answered = receivers.close()
    deliveries = (len(rounds[0]) - 1) * APPLICATIONS
    print(f"\nCPU per delivery, unprofiled: {cpu * 1e3 / deliveries:.4f} ms ({deliveries})")
    Path(PROFILE).write_text(profiler.output_html())
    print(profiler.output_text(show_all=False, color=False))
    assert answered == 2 * PROFILED_USERS * APPLICATIONS
