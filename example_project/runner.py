"""Run the demo's processes together (web server and Celery worker) until Ctrl-C.

Each child runs in its own process group, so a Ctrl-C reaches only this runner, which then
stops the children in order: SIGTERM (Celery's warm shutdown: finish the running task), a
grace period, then SIGKILL for anything still alive.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

GRACE_SECONDS = 10.0
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Service:
    name: str
    command: Sequence[str]


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
                self.processes[service.name] = subprocess.Popen(
                    service.command, start_new_session=True
                )
            return self._watch()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

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


def demo_services(address: str) -> list[Service]:
    """The web server and a Celery worker (with the beat scheduler embedded)."""
    python = sys.executable
    return [
        Service("web", [python, "manage.py", "runserver", address, "--noreload"]),
        Service(
            "worker",
            [
                python,
                "-m",
                "celery",
                "--app",
                "example_project",
                "worker",
                "--beat",
                "--schedule",
                "var/celerybeat-schedule",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
            ],
        ),
    ]
