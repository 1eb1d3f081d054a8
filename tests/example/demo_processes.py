"""The demo's processes for the example project's tests: started as ``run_demo`` starts them,
each in a process group of its own, stopped with their children however a test ends; and a
``manage.py shell`` as one of the demo's sites."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from example_project import topology
from example_project.runner import Service
from example_project.topology import Site
from tests.services import wait_for

DEADLINE_SECONDS = 30.0
GRACE_SECONDS = 10.0


def shell(site_env: Mapping[str, str], code: str) -> str:
    """The last line ``code`` printed, run by ``manage.py shell`` with ``site_env``."""
    result = topology.manage(site_env, "shell", "-c", code, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@dataclass
class RunningDemo:
    """The demo's processes, started; their output in ``log_dir``."""

    processes: dict[str, subprocess.Popen[bytes]]
    log_dir: Path

    def wait_for(self, predicate: Callable[[], Any], message: str) -> Any:
        """``wait_for``, failing at once (with its output) when a process exited."""

        def alive_and() -> Any:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    output = (self.log_dir / f"{name}.log").read_text(errors="replace")
                    pytest.fail(
                        f"{name} exited with status {process.returncode}:\n{output[-3000:]}",
                        pytrace=False,
                    )
            return predicate()

        return wait_for(alive_and, DEADLINE_SECONDS, message)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Stop processes, each with its whole group (a Celery worker's pool): SIGTERM, then
    SIGKILL for whatever is left after the grace period."""
    for process in processes:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for process in processes:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def running(services: list[Service], log_dir: Path) -> Iterator[RunningDemo]:
    """``services`` started as run_demo's runner starts them, each in a process group of its
    own; stopped, with their children, however the test ends."""
    log_dir.mkdir()
    processes: dict[str, subprocess.Popen[bytes]] = {}
    with ExitStack() as stack:
        stack.callback(lambda: stop(list(processes.values())))
        for service in services:
            log = stack.enter_context((log_dir / f"{service.name}.log").open("wb"))
            processes[service.name] = subprocess.Popen(
                service.command,
                cwd=topology.REPO_ROOT,
                env={**os.environ, **service.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        yield RunningDemo(processes, log_dir)


def answers(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return requests.get(url, timeout=2).ok
        except requests.ConnectionError:
            return False

    return check


def prepare(var_dir: Path, wiki: Site, billing: Site) -> str:
    """What ``make demo`` and run_demo do before starting the processes, with Billing's URI at
    the hub on its port of the test; returns Billing's credential at the hub."""
    main = wiki.environment(var_dir, with_provider=False)
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        topology.manage(main, *command)
    topology.manage(
        main,
        "shell",
        "-c",
        "from logout_sso.models import Application; "
        "Application.objects.filter(client_id='billing')"
        f".update(backchannel_logout_uri={billing.url + '/sso/backchannel-logout/'!r})",
    )
    topology.prepare_databases(var_dir)
    return topology.issue_credential(var_dir, wiki, billing)
