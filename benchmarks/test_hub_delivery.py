"""What the hub's fan-out costs: run with ``make bench`` (not part of ``make test``).

1. One logout to N = 1, 10, 100 loopback receivers that each answer after 50 ms: the time the
   sender takes from claiming the event's deliveries to the last acknowledgement recorded,
   against, in the same run over the same receivers, a sequential loop of ``requests.post``
   (how a naive logout service delivers) and a pool of 100 threads posting over urllib3 (how
   the hub sent before it used libcurl), with RS256 and ES256 keys.
2. Sustained throughput of one sender (its thread pool) to fast receivers, over 10,000
   deliveries.

The receivers run in a process of their own (``tests/receiver_farm.py``). Results are printed
and merged into ``benchmarks/results.json``; docs/benchmarks.md records them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import urllib3

from benchmarks.hub_setup import (
    DELAY,
    IDP,
    KEYS,
    RUNS,
    THROUGHPUT_APPLICATIONS,
    THROUGHPUT_DELIVERIES,
    applications,
    percentile_95,
    signed_in_everywhere,
)
from benchmarks.test_rp_costs import record
from logout_sso.hub.internal import sender
from logout_sso.hub.internal.outbox import record_logout
from logout_sso.hub.internal.tokens import sign_logout_token
from logout_sso.models import Application, Delivery, LogoutEvent
from logout_sso.models.events import DeliveryState, Initiator


@pytest.fixture
def hub(settings, monkeypatch):
    monkeypatch.setattr("logout_sso.tasks.deliver_event.delay", lambda *message: None)

    def configure(algorithm: str) -> None:
        settings.LOGOUT_SSO = {
            "HUB_ISSUER": "https://hub.example.com/",
            "HUB_SIGNING_KEY": KEYS[algorithm],
            "DELIVERY_ALLOW_PRIVATE_ADDRESSES": True,
        }

    return configure


def held_by(event: LogoutEvent) -> list[str]:
    """The claims of the event's tasks (their messages: on_commit never runs in these tests)."""
    return list(event.deliveries.order_by().values_list("claim", flat=True).distinct())


def sequential(applications: list[Application], sub: str) -> None:
    """The naive logout service: one ``requests.post`` after another."""
    http = requests.Session()
    for application in applications:
        token = sign_logout_token(audience=application.client_id, sub=sub, sid="")
        http.post(application.backchannel_logout_uri, data={"logout_token": token})


THREADS = ThreadPoolExecutor(max_workers=100)
URLLIB3 = urllib3.PoolManager(num_pools=100, maxsize=4, retries=False)


def in_threads(applications: list[Application], sub: str) -> None:
    """A thread per POST, over urllib3's pooled connections."""

    def post(application: Application) -> None:
        token = sign_logout_token(audience=application.client_id, sub=sub, sid="")
        URLLIB3.request(
            "POST", application.backchannel_logout_uri, fields={"logout_token": token},
            encode_multipart=False,
        )  # fmt: skip

    list(THREADS.map(post, applications))


def timed(
    baseline: Callable[[list[Application], str], None], applications: list[Application], sub: str
) -> float:
    start = time.perf_counter()
    baseline(applications, sub)
    return time.perf_counter() - start


@pytest.mark.django_db
@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_one_logout_to_n_receivers(hub, receivers, make_organization, algorithm):
    hub(algorithm)
    organization = make_organization("acme")
    results = {}
    for n in (1, 10, 100):
        apps = applications(organization, receivers[DELAY][:n], f"n{n}")
        fan_out: list[float] = []
        baselines: dict[str, list[float]] = {"sequential": [], "threads": []}
        for run in range(RUNS):
            sub = f"user-{n}-{run}"
            signed_in_everywhere(organization, apps, sub)
            event = record_logout(
                initiator=Initiator.API, issuer=IDP, sub=sub, organization=organization
            )
            [claim] = held_by(event)
            start = time.perf_counter()
            assert sender.deliver_event(event.pk, claim).delivered == n
            fan_out.append(time.perf_counter() - start)

            baselines["sequential"].append(timed(sequential, apps, sub))
            baselines["threads"].append(timed(in_threads, apps, sub))
        results[f"n={n}"] = {
            "fan_out_ms_median": round(statistics.median(fan_out) * 1e3, 1),
            "fan_out_ms_p95": round(percentile_95(fan_out) * 1e3, 1),
            "fan_out_vs_one_receiver_delay": round(statistics.median(fan_out) / DELAY, 2),
        }
        for name, times in baselines.items():
            median = statistics.median(times)
            results[f"n={n}"] |= {
                f"{name}_ms_median": round(median * 1e3, 1),
                f"{name}_ms_p95": round(percentile_95(times) * 1e3, 1),
                f"speedup_vs_{name}": round(median / statistics.median(fan_out), 2),
            }
    record(f"hub_fan_out_{algorithm}", {"receiver_delay_ms": DELAY * 1e3, "runs": RUNS, **results})


@pytest.mark.django_db
def test_sustained_throughput(hub, receivers, make_organization):
    hub("RS256")
    organization = make_organization("acme")
    apps = applications(organization, receivers[0.0][:THROUGHPUT_APPLICATIONS], "fast")
    users = THROUGHPUT_DELIVERIES // THROUGHPUT_APPLICATIONS
    events = []
    for number in range(users):
        signed_in_everywhere(organization, apps, f"user-{number}")
        events.append(
            record_logout(
                initiator=Initiator.API, issuer=IDP, sub=f"user-{number}", organization=organization
            )
        )
    tasks = [(event.pk, claim) for event in events for claim in held_by(event)]
    start = time.perf_counter()
    delivered = sum(sender.deliver_event(event_id, claim).delivered for event_id, claim in tasks)
    elapsed = time.perf_counter() - start
    assert not Delivery.objects.filter(state=DeliveryState.PENDING).exists()
    assert delivered == THROUGHPUT_DELIVERIES
    record(
        "hub_throughput_RS256",
        {
            "deliveries": delivered,
            "seconds": round(elapsed, 2),
            "deliveries_per_second": round(delivered / elapsed),
        },
    )
