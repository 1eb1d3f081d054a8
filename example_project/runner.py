"""Run the demo's processes together until Ctrl-C (see :mod:`example_project.topology`).

Each child runs in its own process group, so a Ctrl-C reaches only this runner, which then
stops the children in order: SIGTERM (Celery's warm shutdown: finish the running task), a
grace period, then SIGKILL for anything still alive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

GRACE_SECONDS = 10.0
POLL_SECONDS = 0.2
READY_SECONDS = 30.0


@dataclass(frozen=True)
class Service:
    """A process to run; ``env`` is added to this process's environment; the services after
    it start only once ``ready()`` is true."""

    name: str
    command: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    ready: Callable[[], bool] | None = None


class ServiceFailed(Exception):
    """A service exited or did not become ready in time."""


class Runner:
    """Starts services, watches them, stops them all when one dies or a signal arrives."""

    def __init__(self, services: Sequence[Service], log: Callable[[str], None]) -> None:
        self.services = services
        self.log = log
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> int:
        """Run until a signal or the first child exiting; returns the exit status."""
        previous = {
            sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            for service in self.services:
                self._start(service)
            return self._watch()
        except ServiceFailed as exc:
            self.log(f"{exc}; stopping.")
            return 1
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _start(self, service: Service) -> None:
        process = subprocess.Popen(
            service.command, env={**os.environ, **service.env}, start_new_session=True
        )
        self.processes[service.name] = process
        if service.ready is None:
            return
        deadline = time.monotonic() + READY_SECONDS
        while not service.ready():
            if process.poll() is not None:
                raise ServiceFailed(f"{service.name} exited with status {process.returncode}")
            if self.stopping:
                return
            if time.monotonic() > deadline:
                raise ServiceFailed(f"{service.name} was not ready after {READY_SECONDS:.0f} s")
            time.sleep(POLL_SECONDS)

    def _watch(self) -> int:
        while not self.stopping:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    self.log(f"{name} exited with status {process.returncode}; stopping.")
                    return process.returncode or 1
            time.sleep(POLL_SECONDS)
        self.log("Stopping...")
        return 0

    def _stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for name, process in self.processes.items():
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"{name} did not stop within {GRACE_SECONDS:.0f} s; killing it.")
                process.kill()
                process.wait()
