"""The test suite's fixtures, and loopback receivers, for the benchmarks (``make bench``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from benchmarks.hub_setup import DELAY, counting_receivers
from tests.conftest import make_organization

__all__ = ["make_organization", "receivers"]


@pytest.fixture(scope="module")
def receivers() -> Iterator[dict[float, list[int]]]:
    """Ports of 100 receivers answering after 50 ms, and of 100 answering at once."""
    with ExitStack() as stack:
        farms = {
            delay: stack.enter_context(counting_receivers(100, delay)) for delay in (DELAY, 0.0)
        }
        yield {delay: farm.ports for delay, farm in farms.items()}
