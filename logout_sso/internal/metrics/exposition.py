"""What a scrape returns: this host's counters (every process's, under prometheus-client's
multiprocess mode; else this process's) and, for the view, the database's figures."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from logout_sso.internal.metrics import (
    events,  # noqa: F401 - the counters, at zero until used
    multiprocess,
)
from logout_sso.internal.metrics.state import DatabaseCollector


def host_metrics() -> Collector:
    """The counters of every process of this host (multiprocess mode), or of this one."""
    if not multiprocess():
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


class Combined(Collector):
    """Several collectors' metrics as one exposition (none registered anywhere: nothing is
    registered twice however often it is built)."""

    def __init__(self, collectors: Iterable[Collector]) -> None:
        self.collectors = list(collectors)

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def scrape() -> bytes:
    """The view's answer: this host's counters and the database's figures."""
    return generate_latest(Combined([host_metrics(), DatabaseCollector()]))
