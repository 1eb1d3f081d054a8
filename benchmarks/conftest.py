"""The test suite's fixtures, and loopback receivers, for the benchmarks (``make bench``)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from benchmarks.hub_setup import DELAY
from tests.conftest import make_organization

__all__ = ["make_organization", "receivers"]


@pytest.fixture(scope="module")
def receivers() -> Iterator[dict[float, list[int]]]:
    """Ports of 100 receivers answering after 50 ms, and of 100 answering at once."""
    processes, ports = [], {}
    for delay in (DELAY, 0.0):
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.receivers", "100", str(delay)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        ports[delay] = json.loads(process.stdout.readline())
        processes.append(process)
    yield ports
    for process in processes:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)
