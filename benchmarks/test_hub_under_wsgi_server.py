"""The hub under a production WSGI server (issue 15): an application's ``POST /sso/api/logouts/``
through gunicorn, PostgreSQL (or SQLite) and Redis, a real Celery worker process, to the last
application's acknowledgement; N = 1, 10, 100 applications answering after 50 ms from a process
of their own. Side by side in the same run, served by the same gunicorn
(:mod:`benchmarks.baseline_urls`): a sequential loop of ``requests.post`` (Keycloak's way), and
every POST at once from threads inside the request (node-oidc-provider's and Duende's way, the
caller waiting for the slowest). The three ways take turns, run after run.

Run with ``make bench``; ``BENCH_WSGI_RUNS`` (default 7) runs per way and N, ``BENCH_WSGI_SIZES``
(default ``1,10,100``) the Ns. Results merged into ``benchmarks/results.json``. Nothing here
asserts a timing.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import pytest
import requests
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from benchmarks.hub_setup import (
    DELAY,
    IDP,
    KEYS,
    applications,
    percentile_95,
    signed_in_everywhere,
)
from benchmarks.test_hub_end_to_end import HUB, kept_alive
from benchmarks.test_rp_costs import record
from benchmarks.wsgi_server import THREADS, WORKERS, running_wsgi_server
from logout_sso.models import Application, LogoutEvent, Organization
from logout_sso.models.events import DeliveryState
from tests.services import database_name, running_worker, wait_for

RUNS = int(os.environ.get("BENCH_WSGI_RUNS", "7"))
SIZES = tuple(int(n) for n in os.environ.get("BENCH_WSGI_SIZES", "1,10,100").split(","))


class Run(NamedTuple):
    """What one run of a way measured (seconds), and how many applications acknowledged."""

    to_last_ack: float
    call: float
    delivered: int


def product(http: requests.Session, url: str, sub: str) -> Run:
    """The hub: the API answers once the logout is recorded; the worker sends. Until the last
    delivery's ``delivered_at`` (the worker's clock, the same host's)."""
    start = timezone.now()
    began = time.perf_counter()
    response = http.post(f"{url}/sso/api/logouts/", json={"sub": sub}, timeout=30)
    call = time.perf_counter() - began
    assert response.status_code == 202, response.text
    event = LogoutEvent.objects.get(pk=response.json()["event"])
    finished = LogoutEvent.objects.filter(pk=event.pk, completed_at__isnull=False)
    wait_for(finished.exists, 30, "the worker did not deliver")
    delivered = event.deliveries.filter(state=DeliveryState.DELIVERED)
    last = delivered.aggregate(last=Max("delivered_at"))["last"]
    return Run((last - start).total_seconds(), call, delivered.count())


def baseline(path: str, http: requests.Session, url: str, sub: str) -> Run:
    """A baseline view: it answers once the last application has answered."""
    began = time.perf_counter()
    response = http.post(f"{url}{path}", json={"sub": sub}, timeout=60)
    call = time.perf_counter() - began
    assert response.status_code == 200, response.text
    return Run(call, call, response.json()["delivered"])


WAYS: dict[str, Callable[[requests.Session, str, str], Run]] = {
    "hub": product,
    "sequential": partial(baseline, "/baseline/sequential/"),
    "parallel_in_request": partial(baseline, "/baseline/parallel/"),
}


def summary(runs: list[Run]) -> dict[str, float]:
    totals, calls = [run.to_last_ack for run in runs], [run.call for run in runs]
    return {
        "median_ms": round(statistics.median(totals) * 1e3, 1),
        "p95_ms": round(percentile_95(totals) * 1e3, 1),
        "vs_one_receiver_delay": round(statistics.median(totals) / DELAY, 2),
        "call_median_ms": round(statistics.median(calls) * 1e3, 1),
        "call_p95_ms": round(percentile_95(calls) * 1e3, 1),
    }


def measure(
    http: requests.Session, url: str, organization: Organization, apps: list[Application], tag: str
) -> dict[str, list[Run]]:
    """``RUNS`` runs of each way, interleaved (the order turning from one run to the next),
    after one unmeasured run of each; a new user signed in everywhere for each."""
    names = list(WAYS)
    runs: dict[str, list[Run]] = {name: [] for name in names}
    for run in range(-1, RUNS):
        for name in names[run % len(names) :] + names[: run % len(names)]:
            sub = f"user-{tag}-{name}-{run}"
            signed_in_everywhere(organization, apps, sub)
            outcome = WAYS[name](http, url, sub)
            assert outcome.delivered == len(apps), (name, outcome)
            if run >= 0:
                runs[name].append(outcome)
    return runs


def table(algorithm: str, results: dict[str, Any]) -> str:
    lines = [
        f"{algorithm}: from the call to the last acknowledgement, median / p95 ms (x the "
        f"{DELAY * 1e3:.0f} ms delay); the call alone, median / p95 ms",
        f"{'N':>4}  {'way':<20} {'to the last ack':>22}  {'the call':>16}",
    ]
    for n in SIZES:
        for name in WAYS:
            row = results[f"n={n}"][name]
            lines.append(
                f"{n:>4}  {name:<20} {row['median_ms']:>9} / {row['p95_ms']:>7} "
                f"({row['vs_one_receiver_delay']:>5}x)  {row['call_median_ms']:>7} / "
                f"{row['call_p95_ms']:>6}"
            )
    return "\n".join(lines)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_logout_under_wsgi_server(
    algorithm, receivers, make_organization, redis_url, django_db_blocker, tmp_path
):
    organization = make_organization("acme")
    reporter, credential = Application.objects.create_with_credential(
        name="reporter", client_id="reporter"
    )
    reporter.organizations.add(organization)
    queue = f"logout_sso_bench_{uuid.uuid4().hex[:12]}"
    overrides = {
        "LOGOUT_SSO": {**HUB, "HUB_SIGNING_KEY": KEYS[algorithm]},
        "OIDC_OP_ISSUER": IDP,
        **kept_alive(django_db_blocker),
    }
    web = {
        **overrides,
        "ROOT_URLCONF": "benchmarks.baseline_urls",
        "CELERY_TASK_DEFAULT_QUEUE": queue,
    }
    database = database_name(django_db_blocker)
    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    with (
        running_worker(redis_url, database, tmp_path, overrides, queue=queue),
        running_wsgi_server(redis_url, database, tmp_path, web) as url,
        requests.Session() as http,
    ):
        http.headers["Authorization"] = f"Bearer {credential}"
        for n in SIZES:
            apps = applications(organization, receivers[DELAY][:n], f"wsgi{algorithm}{n}")
            runs = measure(http, url, organization, apps, f"{algorithm}-{n}")
            results[f"n={n}"] = {name: summary(outcomes) for name, outcomes in runs.items()}
    print(f"\n{table(algorithm, results)}")
    record(
        f"hub_under_wsgi_server_{algorithm}_{connection.vendor}",
        {
            "receiver_delay_ms": DELAY * 1e3,
            "runs": RUNS,
            "gunicorn": f"{WORKERS} workers x {THREADS} threads",
            "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
            **results,
        },
    )
