"""Fixtures for real services: a Redis server and a Celery worker process.

Redis: ``REDIS_URL`` (default redis://127.0.0.1:6379/15); when nothing answers there, a
redis-server of our own on a free port; when there is no redis-server either, the tests fail
saying how to get one (never a silent skip).

The Celery worker is a real ``celery worker`` process on that Redis, pointed at the test database,
listening on a queue of its own so that concurrent test runs do not steal each other's tasks.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection

from tests.celery_app import app as celery_app

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
STARTUP_SECONDS = 30.0
REPO_ROOT = Path(__file__).resolve().parent.parent


def wait_for(predicate: Callable[[], Any], timeout: float, message: str) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{message} (after {timeout:.0f} s)", pytrace=False)
        time.sleep(0.05)


def at_once(call: Callable[[], Any], times: int = 2, timeout: float = 60) -> list[Any]:
    """What ``call`` returned in each of ``times`` threads released together (each with a
    database connection of its own); the first exception any of them raised is raised here."""
    start = threading.Barrier(times)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait(timeout=10)
            results.append(call())
        except BaseException as exc:  # raised again in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    if errors:
        raise errors[0]
    return results


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis database for the tests, started here if none answers."""
    url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    if redis_answers(url):
        yield url
        return
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail(
            f"No Redis answers at {url} and redis-server is not installed. Install it "
            "(apt-get install redis-server) or start a Redis and set REDIS_URL.",
            pytrace=False,
        )
    port = free_port()
    process = start_redis_server(server, port, tmp_path_factory.mktemp("redis"))
    try:
        yield f"redis://127.0.0.1:{port}/15"
    finally:
        process.terminate()
        process.wait(timeout=10)


def start_redis_server(server: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    """``server`` (a redis-server) on ``port`` of 127.0.0.1, without persistence (stopped, it
    loses its data), once it answers."""
    process = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: redis_answers(f"redis://127.0.0.1:{port}/0"),
            STARTUP_SECONDS,
            f"redis-server on port {port}",
        )
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process


@pytest.fixture
def redis_client(redis_url: str) -> redis.Redis:
    """A client of the test Redis database, emptied before the test."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    return client


def forget_broker_connections() -> None:
    """Drop the Celery app's pooled broker connections, so that the next message goes to the
    broker configured now: a task queued before any broker was set leaves pools on Celery's
    default (amqp://localhost), where messages and pings would vanish."""
    celery_app._pool = None  # type: ignore[attr-defined]
    amqp = celery_app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


def settings_environment(
    redis_url: str, database_name: str, overrides: dict[str, Any]
) -> dict[str, str]:
    """The environment variables that point a process of ours (a Celery worker, a web server)
    at tests.settings, the Redis broker and the test database, with ``overrides`` (setting
    names and values, as JSON: tests/settings.py reads them)."""
    return {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CELERY_BROKER_URL": redis_url,
        "LOGOUT_SSO_TEST_DATABASE_NAME": database_name,
        "LOGOUT_SSO_TEST_OVERRIDES": json.dumps(overrides),
    }


def stop(process: subprocess.Popen[bytes], grace: float = 20) -> None:
    """Ask ``process`` to stop (SIGTERM: a graceful shutdown), kill it after ``grace`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_worker(
    redis_url: str,
    database_name: str,
    log_dir: Path,
    overrides: dict[str, Any] | None = None,
    concurrency: int = 1,
    queue: str | None = None,
    more_queues: tuple[str, ...] = (),
    environment: dict[str, str] | None = None,
) -> Iterator[str]:
    """A real ``celery worker`` process (prefork) on Redis and the test database, with
    tests.settings plus ``overrides`` (what a test's ``settings`` fixture cannot reach in
    another process) and ``environment`` variables, on a queue of its own (``queue``, or a new
    name) that its own retries go to too, and on ``more_queues``; yields its name. The tests'
    Celery app routes there meanwhile."""
    queue = queue or f"logout_sso_tests_{uuid.uuid4().hex[:12]}"
    name = f"{queue}@{socket.gethostname()}"
    previous = {key: celery_app.conf[key] for key in ("broker_url", "task_default_queue")}
    celery_app.conf.update(broker_url=redis_url, task_default_queue=queue)
    forget_broker_connections()
    celery_app.set_current()
    log_path = log_dir / "worker.log"
    env = {
        **os.environ,
        **(environment or {}),
        **settings_environment(
            redis_url, database_name, {**(overrides or {}), "CELERY_TASK_DEFAULT_QUEUE": queue}
        ),
    }
    command = [
        sys.executable, "-m", "celery", "--app", "tests.celery_app", "worker",
        "--hostname", name, "--queues", ",".join((queue, *more_queues)),
        "--concurrency", str(concurrency),
        "--without-gossip", "--without-mingle", "--loglevel", "INFO",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )

    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"The Celery worker exited:\n{log_path.read_text()}", pytrace=False)
        return bool(celery_app.control.ping(destination=[name], timeout=0.5))

    try:
        wait_for(ready, STARTUP_SECONDS, f"Celery worker {name} did not answer a ping")
        yield name
    finally:
        stop(process)
        celery_app.conf.update(previous)
        forget_broker_connections()


def database_name(django_db_blocker: Any) -> str:
    with django_db_blocker.unblock():
        return str(connection.settings_dict["NAME"])


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup: None,
    django_db_blocker: Any,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """A real Celery worker process on Redis and the test database with tests.settings, for
    the whole session; yields its name. Tests use ``celery_worker``."""
    with running_worker(
        redis_url, database_name(django_db_blocker), tmp_path_factory.mktemp("celery")
    ) as name:
        yield name


@pytest.fixture
def celery_worker(celery_worker_process: str) -> str:
    """The worker's name, with the tests' Celery app current, so that ``task.delay()`` goes to
    it even after another module (the example project) created its own app.

    Tests using it must commit their data for the worker to see it:
    ``@pytest.mark.django_db(transaction=True)``.
    """
    celery_app.set_current()
    return celery_worker_process
