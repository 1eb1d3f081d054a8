"""Faults of the hub's infrastructure mid-fan-out of 10,000 deliveries (issue 15): Redis
restarted with its data lost, PostgreSQL restarted, the connections to RabbitMQ dropped. None
may lose a delivery.

Each drill is built, run and tallied with tests/drills.py's machinery, as the other fault
drills (test_hub_faults.py): its ``drill_hub`` (:class:`~tests.drills.DrillHub`, signing with
ES256) signs 100 users in to 100 applications (:class:`~tests.drills.FanOut`), the applications
being the 100 loopback receivers of a :class:`~tests.receiver_farm.ReceiverFarm` (a process of
its own, answering 200 after 20 ms and keeping every token), and records the users' logouts
while the worker sends: 10,000 deliveries, 100 "go" messages. A real ``celery worker`` with two
pool processes sends them, configured as docs/deployment.md tells operators: acks late,
prefetch 1, and its database connection kept between tasks (``CONN_MAX_AGE`` 60,
``CONN_HEALTH_CHECKS``, ``CELERY_DB_REUSE_MAX`` 100: :meth:`~tests.drills.DrillHub.worker`).
Once a quarter of the POSTs or more have arrived (it is looked at once every logout is
recorded: on PostgreSQL, about half by then), the fault; then the sweeper is queued every
second (``SWEEP_EVERY``, as Celery beat would every 30 s; before the fault nothing is due:
every claim's lease holds) until the 10,000 are delivered
(:meth:`~tests.drills.FanOut.log_out_through`). Each drill verifies every token the
applications received with logout_sso's own receiver code and prints delivered / lost (a user
an application never received a token for) / duplicated (tokens beyond one per user and
application) (:meth:`~tests.drills.FanOut.tally`), how long the fan-out took, from the first
logout to the last delivery seen recorded, and how long the drill took. Time is scaled down as
in tests/drills.py (``TIMEOUTS``): connect and read timeouts of 0.5 and 1 s, so a claim's
lease is 6.5 s.

- **Redis** (:class:`RestartableRedis`): a redis-server of the drill's own, without
  persistence, stopped and started again while the workers send: the queued messages and those
  the workers hold unacknowledged are gone. The sweeper sends what they held once their leases
  are over. A worker that stops for good on the restart (kombu's Redis transport, see the
  drill) is started again, as its supervisor would.
- **PostgreSQL** (:class:`PrivatePostgreSQL`): a real server restarted (``pg_ctl restart -m
  fast``: every backend is terminated, the workers' connections with them), never the shared
  one. The drill owns a cluster initdb'd into a temporary directory (as the ``postgres`` user
  when run as root: initdb refuses root), started on a free port, with a database that this
  process migrates. This process reaches it through its ``default`` connection, swapped for
  one to that server while the drill runs and then restored (:func:`default_database`): the
  product's own code records the logouts there and the drill counts there, unchanged, and the
  workers are given that server's settings. The drill is not a ``django_db`` test: it never
  touches the suite's test database; pytest-django's blocker is lifted only while the swapped
  connection is in place. This process closes its own connection before the restart (it
  observes; the workers are under test). The restart comes between the fan-out's two halves,
  the pool processes holding their idle connections, as most of a deployment's do at any
  moment: a connection killed inside a transaction is dropped by Django itself (the rollback
  fails), an idle one was kept, dead, until ``logout_sso.tasks.close_unusable_connections``.
  The drill runs in CI's PostgreSQL pass only: it owns its server whatever the suite's
  database, so the SQLite pass would drill the same thing again, and the PostgreSQL pass is
  where PostgreSQL's programs are sure to be.
- **RabbitMQ** (:class:`CuttableProxy`): the workers and this process reach RabbitMQ through a
  TCP proxy of the drill's own, which closes every connection, refuses new ones for a second,
  then accepts again. Not ``rabbitmqctl close_all_connections``: it would cut every other
  user of the shared broker too. The drill's queue (a name of its own) is deleted afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import dj_database_url
import kombu
import pytest
import redis
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.utils import load_backend

from tests.drills import DrillHub, FanOut, delivered_count, timed
from tests.hub_receivers import JsonServer
from tests.receiver_farm import ReceiverFarm
from tests.services import STARTUP_SECONDS, free_port, start_redis_server, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

USERS = 100
APPLICATIONS = 100
DELIVERIES = USERS * APPLICATIONS
#: The receivers' answer time: a batch (an event's 100 deliveries) is still in flight a while.
ANSWER_SECONDS = 0.02
#: The worker's pool processes: one per core of the machine.
CONCURRENCY = 2
#: The fault comes once at least this many POSTs have arrived, and before the last: mid-fan-out.
FAULT_AFTER = DELIVERIES // 4
#: From the fault to the 10,000th delivery recorded, at most.
SETTLE_SECONDS = 40.0


# --- The hub, its 10,000 deliveries, its workers: tests/drills.py's -------------------------


def fan_out_of(drill_hub: DrillHub, farm: ReceiverFarm) -> FanOut:
    """``USERS`` users each signed in to the ``APPLICATIONS`` applications of ``farm``."""
    return drill_hub.fan_out(farm, drill_hub.applications(farm), users=USERS)


def posts_reached(fan_out: FanOut) -> Callable[[], bool]:
    """Whether ``FAULT_AFTER`` POSTs or more have been answered: mid-fan-out."""
    return lambda: fan_out.farm.requests() >= FAULT_AFTER


#: Deliveries that may be sent twice: the batches in flight when the fault came (each pool
#: process sends an event's 100 deliveries as one batch).
IN_FLIGHT = CONCURRENCY * APPLICATIONS


# --- 1. Redis restarted with its data lost ---------------------------------------------------


class RestartableRedis:
    """A redis-server of this test's own, without persistence: a restart loses every message.
    Without a redis-server binary, the shared test Redis whose database is emptied instead."""

    def __init__(self, workdir: Path, shared_url: str) -> None:
        self.binary = shutil.which("redis-server")
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        if self.binary is None:
            self.url = shared_url
        else:
            self.port = free_port()
            self.url = f"redis://127.0.0.1:{self.port}/0"
            self.start()

    def start(self) -> None:
        assert self.binary is not None
        self.process = start_redis_server(self.binary, self.port, self.workdir)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> bool:
        """Stop it and start it again, empty (or empty the shared database); return whether
        its data was lost: a key written before is gone (what the workers and this process
        write once they reconnect, at once, is not the data of before)."""
        marker = f"logout_sso_drill_{uuid.uuid4().hex}"
        self.client().set(marker, 1)
        if self.binary is None:
            self.client().flushdb()
        else:
            self.stop()
            self.start()
        return not self.client().exists(marker)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


@pytest.fixture
def restartable_redis(redis_url: str, tmp_path: Path) -> Iterator[RestartableRedis]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RestartableRedis(workdir, redis_url)
    yield server
    server.stop()


@pytest.mark.django_db(transaction=True)
def test_redis_restarted_with_its_data_lost_mid_fan_out_loses_no_delivery(
    drill_hub: DrillHub, hub_jwks: JsonServer, restartable_redis: RestartableRedis
) -> None:
    """A worker holding unacknowledged messages when Redis goes away may stop for good
    ("Unrecoverable error": kombu's Redis transport, restoring them as it closes the lost
    connection, finds no connection to restore them with). Its supervisor would start it
    again (docs/deployment.md): the drill does, and says so."""
    drill = "Redis restarted mid-fan-out, its data lost"
    with timed(drill), ReceiverFarm(APPLICATIONS, ANSWER_SECONDS) as farm:
        fan_out = fan_out_of(drill_hub, farm)
        with ExitStack() as supervisor:
            worker = supervisor.enter_context(
                drill_hub.worker(restartable_redis.url, concurrency=CONCURRENCY)
            )

            def restart() -> None:
                assert restartable_redis.restart(), "Redis kept its data"
                wait_for(
                    lambda: worker.answers() or worker.gave_up(),
                    STARTUP_SECONDS,
                    "the worker neither reconnected nor stopped",
                )
                if worker.gave_up():
                    supervisor.enter_context(
                        drill_hub.worker(restartable_redis.url, concurrency=CONCURRENCY)
                    )

            fan_out.log_out_through(
                restart, drill, when=posts_reached(fan_out), timeout=SETTLE_SECONDS
            )

        print(f"[{drill}] the worker stopped and was started again: {worker.gave_up()}")
        result = fan_out.tally(drill, hub_jwks)
    assert (result.delivered, result.lost) == (DELIVERIES, 0)
    assert result.duplicated <= IN_FLIGHT


# --- 2. PostgreSQL restarted -----------------------------------------------------------------


def postgresql_programs() -> Path | None:
    """The directory of PostgreSQL's server programs (initdb, pg_ctl): on the PATH, or
    Debian's newest ``/usr/lib/postgresql/VERSION/bin``; None when neither has them."""
    on_path = shutil.which("pg_ctl")
    if on_path is not None:
        return Path(on_path).resolve().parent  # Not a directory of links to them.
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda path: int(path.parts[-3])
    )
    return installed[-1].parent if installed else None


class PrivatePostgreSQL:
    """A PostgreSQL server of the drill's own: a cluster initdb'd into a temporary directory,
    listening on a free port of 127.0.0.1, with an empty database ``logout_sso_drill``. Run as
    the ``postgres`` user when this process is root (initdb and the server refuse root)."""

    def __init__(self, programs: Path) -> None:
        self.programs = programs
        self.directory = Path(tempfile.mkdtemp(prefix="logout_sso_drill_postgresql_"))
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self.data = self.directory / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/logout_sso_drill"
        try:
            self.start()
        except RuntimeError:
            self.remove()
            raise

    def start(self) -> None:
        """initdb, start the server, create the database."""
        self.run("initdb", "-D", str(self.data), "--auth=trust", "--username=postgres")
        # Durability of the server's own files is not drilled here: fsync off, faster.
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.pg_ctl("start", "-o", options)
        server = (f"--port={self.port}", "--host=127.0.0.1", "--username=postgres")
        self.run("createdb", *server, "logout_sso_drill")

    def run(self, program: str, *arguments: str) -> None:
        """One of PostgreSQL's programs, as the cluster's owner; RuntimeError if it fails."""
        done = subprocess.run(
            [*self.as_owner, str(self.programs / program), *arguments],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"{program} {' '.join(arguments)}: {done.stderr or done.stdout}")

    def pg_ctl(self, *arguments: str) -> None:
        """``pg_ctl`` on the cluster, waiting until it is done."""
        self.run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.directory / "log"), "-w", *arguments
        )

    def restart(self) -> None:
        """Stop the server, terminating every session (``-m fast``), and start it again."""
        self.pg_ctl("restart", "-m", "fast")

    def remove(self) -> None:
        """Stop the server at once and delete the cluster."""
        with suppress(RuntimeError):
            self.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


@contextmanager
def default_database(url: str) -> Iterator[None]:
    """Within: this thread's ``default`` connection is one to the database at ``url``; then
    it is closed, and the previous one is back."""
    settings_dict = connections.configure_settings({DEFAULT_DB_ALIAS: dj_database_url.parse(url)})
    swapped = settings_dict[DEFAULT_DB_ALIAS]
    previous = connections[DEFAULT_DB_ALIAS]
    connections[DEFAULT_DB_ALIAS] = load_backend(swapped["ENGINE"]).DatabaseWrapper(
        swapped, DEFAULT_DB_ALIAS
    )
    try:
        yield
    finally:
        connections[DEFAULT_DB_ALIAS].close()
        connections[DEFAULT_DB_ALIAS] = previous


@pytest.fixture
def private_postgresql(django_db_blocker: Any) -> Iterator[PrivatePostgreSQL]:
    """A :class:`PrivatePostgreSQL`, migrated, that this process's ``default`` connection goes
    to meanwhile; in the suite's PostgreSQL run only (see the module's docstring)."""
    if connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL restart drill runs with DATABASE_URL=postgres://...")
    programs = postgresql_programs()
    if programs is None:
        pytest.fail(
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed: "
            "apt-get install postgresql",
            pytrace=False,
        )
    server = PrivatePostgreSQL(programs)
    try:
        with django_db_blocker.unblock(), default_database(server.url):
            call_command("migrate", verbosity=0)
            yield server
    finally:
        server.remove()


def test_postgresql_restarted_mid_fan_out_loses_no_delivery(
    private_postgresql: PrivatePostgreSQL,
    drill_hub: DrillHub,
    hub_jwks: JsonServer,
    redis_url: str,
) -> None:
    """The restart comes between the fan-out's halves, once the first 5,000 are delivered and
    recorded: the pool processes hold their kept connections between tasks, as most of a
    deployment's do at any moment. (One killed inside a transaction is dropped by Django
    itself when the rollback fails; one killed between tasks was kept, dead.)

    ``private_postgresql`` comes before ``drill_hub``: the hub is made on that server."""
    drill = "PostgreSQL restarted mid-fan-out"
    half = USERS // 2

    def restart() -> None:
        connection.close()  # This process's: it only observes.
        private_postgresql.restart()

    with timed(drill), ReceiverFarm(APPLICATIONS, ANSWER_SECONDS) as farm:
        fan_out = fan_out_of(drill_hub, farm)
        with drill_hub.worker(redis_url, concurrency=CONCURRENCY) as worker:
            fan_out.log_out_through(
                restart,
                drill,
                first=half,
                when=lambda: delivered_count(fan_out.deliveries()) == half * APPLICATIONS,
                timeout=SETTLE_SECONDS,
            )

        failed = worker.failed_tasks()
        print(f"[{drill}] tasks failed: {failed} (see {worker.log})")
        result = fan_out.tally(drill, hub_jwks)
    assert (result.delivered, result.lost) == (DELIVERIES, 0)
    # Each task checked its connection first, and opened a new one: none failed.
    assert failed == 0
    assert result.duplicated <= IN_FLIGHT


# --- 3. The connections to RabbitMQ dropped --------------------------------------------------

DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"
#: How long the proxy refuses connections once it has cut them.
REFUSED_SECONDS = 1.0


def rabbitmq_answers(url: str) -> bool:
    try:
        with kombu.Connection(url, connect_timeout=2) as broker:
            broker.ensure_connection(max_retries=1)
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """RabbitMQ (``RABBITMQ_URL``, by default the local one as guest), started here as the
    system's service (and left running, as CI leaves it) when it does not answer."""
    url = os.environ.get("RABBITMQ_URL", DEFAULT_RABBITMQ_URL)
    if rabbitmq_answers(url):
        return url
    server = shutil.which("rabbitmq-server") or "/usr/sbin/rabbitmq-server"
    if not Path(server).exists():
        pytest.fail(
            f"No RabbitMQ answers at {url} and rabbitmq-server is not installed. Install it "
            "(apt-get install rabbitmq-server) or start a RabbitMQ and set RABBITMQ_URL.",
            pytrace=False,
        )
    subprocess.run([server, "-detached"], check=True)
    wait_for(lambda: rabbitmq_answers(url), 60, f"rabbitmq-server -detached: nothing at {url}")
    return url


class CuttableProxy:
    """A TCP proxy on a free port of 127.0.0.1 to ``port``, one thread each way per connection,
    whose connections can all be cut at once."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.port = free_port()
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        self.listener = self.listen()

    def listen(self) -> socket.socket:
        listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR
        threading.Thread(target=self.accept, args=(listener,), daemon=True).start()
        return listener

    def accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:  # The listener was closed: cut.
                return
            with self.lock:
                self.sockets |= {client, upstream}
            for source, destination in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pump, args=(source, destination), daemon=True).start()

    def pump(self, source: socket.socket, destination: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                destination.sendall(data)
        with suppress(OSError):
            destination.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Stop listening; close every connection (both ends)."""
        with suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self.lock:
            cut, self.sockets = self.sockets, set()
        for sock in cut:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self) -> int:
        """Close every connection, refuse new ones for ``REFUSED_SECONDS``, then accept again;
        return how many connections were cut."""
        with self.lock:
            connections_cut = len(self.sockets) // 2
        self.close()
        time.sleep(
            REFUSED_SECONDS
        )  # The broker is out of reach meanwhile: not a wait for a result.
        self.listener = self.listen()
        return connections_cut


@pytest.fixture
def rabbitmq_proxy(rabbitmq_url: str) -> Iterator[tuple[str, CuttableProxy]]:
    """The URL of RabbitMQ through a :class:`CuttableProxy`, and the proxy."""
    broker = kombu.Connection(rabbitmq_url)
    proxy = CuttableProxy(broker.port or 5672)
    proxied = broker.clone(hostname="127.0.0.1", port=proxy.port).as_uri(include_password=True)
    yield proxied, proxy
    proxy.close()


@pytest.mark.django_db(transaction=True)
def test_rabbitmq_connections_dropped_mid_fan_out_lose_no_delivery(
    drill_hub: DrillHub,
    hub_jwks: JsonServer,
    rabbitmq_url: str,
    rabbitmq_proxy: tuple[str, CuttableProxy],
) -> None:
    drill = "RabbitMQ connections dropped mid-fan-out"
    proxied_url, proxy = rabbitmq_proxy
    cut: list[int] = []
    with timed(drill), ReceiverFarm(APPLICATIONS, ANSWER_SECONDS) as farm:
        fan_out = fan_out_of(drill_hub, farm)
        try:
            with drill_hub.worker(proxied_url, concurrency=CONCURRENCY) as worker:
                fan_out.log_out_through(
                    lambda: cut.append(proxy.cut()),
                    drill,
                    when=posts_reached(fan_out),
                    timeout=SETTLE_SECONDS,
                )
        finally:
            with kombu.Connection(rabbitmq_url) as broker:
                kombu.Queue(drill_hub.queue).bind(broker.default_channel).delete()

        print(f"[{drill}] connections cut: {cut[0]}; tasks failed: {worker.failed_tasks()}")
        result = fan_out.tally(drill, hub_jwks)
    assert cut[0] >= 2  # The worker's and this process's at least.
    assert (result.delivered, result.lost) == (DELIVERIES, 0)
    assert result.duplicated <= IN_FLIGHT
