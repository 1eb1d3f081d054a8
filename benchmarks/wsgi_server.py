"""The test suite's Django project served by gunicorn, a production WSGI server, in a process of
its own, on the test database and the Redis broker (as :func:`tests.services.running_worker`
runs a Celery worker).

Two worker processes of four threads each (gunicorn's ``gthread`` worker): one process per core
of the benchmarks' 2-core machine, which the Celery worker, the database and the receivers share
(the session API computes for a few milliseconds, more processes than cores would only queue
for the CPU); threads, because a request waits on database round trips meanwhile, and because
the ``gthread`` worker keeps an application's connection alive between its calls (the ``sync``
worker closes it after each response).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.services import (
    REPO_ROOT,
    STARTUP_SECONDS,
    free_port,
    settings_environment,
    stop,
    wait_for,
)

WORKERS = 2
THREADS = 4


@contextmanager
def running_wsgi_server(
    redis_url: str, database_name: str, log_dir: Path, overrides: dict[str, Any]
) -> Iterator[str]:
    """gunicorn serving tests.settings plus ``overrides`` on the test database (the test must
    commit its data: ``transaction=True``), queueing tasks on ``redis_url``; yields its base URL
    once it answers, and stops it at the end. Its log: ``log_dir / "gunicorn.log"``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = log_dir / "gunicorn.log"
    command = [
        sys.executable, "-m", "gunicorn", "benchmarks.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS), "--threads", str(THREADS),
    ]  # fmt: skip
    env = {**os.environ, **settings_environment(redis_url, database_name, overrides)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )

    def answers() -> bool:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited:\n{log_path.read_text()}", pytrace=False)
        try:
            return requests.get(f"{url}/sso/jwks/", timeout=5).ok
        except (requests.ConnectionError, requests.Timeout):  # Not listening, or still loading.
            return False

    try:
        wait_for(answers, STARTUP_SECONDS, f"gunicorn on port {port} did not answer")
        yield url
    finally:
        stop(process)
