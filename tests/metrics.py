"""Reading the metrics as Prometheus does: the exposition of ``/metrics/`` (tests/urls.py),
parsed with prometheus-client's own parser."""

from __future__ import annotations

from dataclasses import dataclass

from django.test import Client
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

# The counters of this process, created now, before any test sets PROMETHEUS_MULTIPROC_DIR:
# prometheus-client chooses where a process keeps its values when it creates the first one.
from logout_sso.internal.metrics import events  # noqa: F401


@dataclass(frozen=True)
class Exposition:
    """What one scrape returned: the families by name, each with its samples."""

    families: dict[str, list[Sample]]

    def find(self, sample: str, **labels: str) -> Sample | None:
        """The sample of that name with exactly those labels, if there is one."""
        for samples in self.families.values():
            for candidate in samples:
                if candidate.name == sample and candidate.labels == labels:
                    return candidate
        return None

    def value(self, sample: str, **labels: str) -> float:
        """The value of the sample of that name with exactly those labels (it must be there)."""
        found = self.find(sample, **labels)
        assert found is not None, f"No sample {sample}{labels} in {sorted(self.families)}"
        return found.value


def parse(text: str) -> Exposition:
    return Exposition(
        {family.name: family.samples for family in text_string_to_metric_families(text)}
    )


def scrape(client: Client) -> Exposition:
    """``GET /metrics/`` as ``client``: 200, in Prometheus' text format."""
    response = client.get("/metrics/")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == CONTENT_TYPE_LATEST
    return parse(response.content.decode())
