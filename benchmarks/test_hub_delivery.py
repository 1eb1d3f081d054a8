"""What the hub's fan-out costs: run with ``make bench`` (not part of ``make test``).

1. One logout to N = 1, 10, 100 loopback receivers that each answer after 50 ms: the time the
   sender takes from claiming the event's deliveries to the last acknowledgement recorded,
   against a sequential loop of ``requests.post`` over the same receivers (how a naive logout
   service delivers), in the same run, with RS256 and ES256 keys.
2. Sustained throughput of one sender (its thread pool) to fast receivers, over 10,000
   deliveries.

The receivers run in a process of their own (``benchmarks/receivers.py``). Results are printed
and merged into ``benchmarks/results.json``; docs/benchmarks.md records them.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from benchmarks.test_rp_costs import record
from logout_sso.hub import sender
from logout_sso.hub.outbox import record_logout
from logout_sso.hub.tokens import sign_logout_token
from logout_sso.models import Application, Delivery, Organization, TrackedSession
from logout_sso.models.events import DeliveryState, Initiator

IDP = "https://idp.example.com/"
DELAY = 0.05
RUNS = 7
THROUGHPUT_DELIVERIES = 10_000
THROUGHPUT_APPLICATIONS = 100


def pem(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


KEYS = {
    "RS256": pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    "ES256": pem(ec.generate_private_key(ec.SECP256R1())),
}


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


@pytest.fixture
def hub(settings, monkeypatch):
    monkeypatch.setattr("logout_sso.tasks.deliver_event.delay", lambda event_id: None)

    def configure(algorithm: str) -> None:
        settings.LOGOUT_SSO = {
            "HUB_ISSUER": "https://hub.example.com/",
            "HUB_SIGNING_KEY": KEYS[algorithm],
            "DELIVERY_ALLOW_PRIVATE_ADDRESSES": True,
        }

    return configure


def applications(organization: Organization, ports: list[int], prefix: str) -> list[Application]:
    apps = Application.objects.bulk_create(
        Application(
            name=f"{prefix}-{port}",
            client_id=f"{prefix}-{port}",
            backchannel_logout_uri=f"http://127.0.0.1:{port}/bcl",
        )
        for port in ports
    )
    for application in apps:
        application.organizations.add(organization)
    return apps


def signed_in_everywhere(organization: Organization, apps: list[Application], sub: str) -> None:
    TrackedSession.objects.bulk_create(
        TrackedSession(
            application=application,
            organization=organization,
            issuer=IDP,
            sub=sub,
            session_id=f"{sub}-{application.pk}",
        )
        for application in apps
    )


def percentile_95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


@pytest.mark.django_db
@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_one_logout_to_n_receivers(hub, receivers, make_organization, algorithm):
    hub(algorithm)
    organization = make_organization("acme")
    results = {}
    http = requests.Session()
    for n in (1, 10, 100):
        apps = applications(organization, receivers[DELAY][:n], f"n{n}")
        fan_out, sequential = [], []
        for run in range(RUNS):
            sub = f"user-{n}-{run}"
            signed_in_everywhere(organization, apps, sub)
            event = record_logout(
                initiator=Initiator.API, issuer=IDP, sub=sub, organization=organization
            )
            start = time.perf_counter()
            assert sender.deliver_event(event.pk) == n
            fan_out.append(time.perf_counter() - start)

            start = time.perf_counter()
            for application in apps:  # The naive logout service: one after another.
                token = sign_logout_token(audience=application.client_id, sub=sub, sid="")
                http.post(application.backchannel_logout_uri, data={"logout_token": token})
            sequential.append(time.perf_counter() - start)
        results[f"n={n}"] = {
            "fan_out_ms_median": round(statistics.median(fan_out) * 1e3, 1),
            "fan_out_ms_p95": round(percentile_95(fan_out) * 1e3, 1),
            "sequential_ms_median": round(statistics.median(sequential) * 1e3, 1),
            "sequential_ms_p95": round(percentile_95(sequential) * 1e3, 1),
            "fan_out_vs_one_receiver_delay": round(statistics.median(fan_out) / DELAY, 2),
            "speedup_vs_sequential": round(
                statistics.median(sequential) / statistics.median(fan_out), 1
            ),
        }
    record(f"hub_fan_out_{algorithm}", {"receiver_delay_ms": DELAY * 1e3, "runs": RUNS, **results})


@pytest.mark.django_db
def test_sustained_throughput(hub, receivers, make_organization):
    hub("RS256")
    organization = make_organization("acme")
    apps = applications(organization, receivers[0.0][:THROUGHPUT_APPLICATIONS], "fast")
    users = THROUGHPUT_DELIVERIES // THROUGHPUT_APPLICATIONS
    for number in range(users):
        signed_in_everywhere(organization, apps, f"user-{number}")
        record_logout(
            initiator=Initiator.API, issuer=IDP, sub=f"user-{number}", organization=organization
        )
    start = time.perf_counter()
    delivered = 0
    while Delivery.objects.filter(state=DeliveryState.PENDING).exists():
        delivered += sender.send_due()
    elapsed = time.perf_counter() - start
    assert delivered == THROUGHPUT_DELIVERIES
    record(
        "hub_throughput_RS256",
        {
            "deliveries": delivered,
            "seconds": round(elapsed, 2),
            "deliveries_per_second": round(delivered / elapsed),
        },
    )
