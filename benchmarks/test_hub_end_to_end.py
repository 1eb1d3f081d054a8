"""One logout through the whole hub: the API call, the transaction, Celery on Redis, a real
worker process, the concurrent POSTs, the last acknowledgement recorded. Run with
``make bench``; results merged into ``benchmarks/results.json``.
"""

from __future__ import annotations

import statistics
import time
from functools import partial
from typing import Any

import pytest
from django.db import connection
from django.db.models import Max, QuerySet
from django.test import Client
from django.utils import timezone

from benchmarks.hub_setup import (
    DELAY,
    IDP,
    KEYS,
    applications,
    percentile_95,
    signed_in_everywhere,
)
from benchmarks.test_rp_costs import record
from logout_sso.models import Application, Delivery, LogoutEvent
from logout_sso.models.events import DeliveryState
from tests.services import database_name, running_worker, wait_for

RUNS = 7
HUB = {"HUB_ISSUER": "https://hub.example.com/", "DELIVERY_ALLOW_PRIVATE_ADDRESSES": True}


def kept_alive(django_db_blocker: Any) -> dict[str, Any]:
    """The worker's settings for a database connection kept between tasks, as a production
    worker should keep it: Celery closes it after every task unless ``CELERY_DB_REUSE_MAX``
    (a new PostgreSQL connection costs 8 ms here), and the suite's settings say
    ``CONN_MAX_AGE = 0``."""
    with django_db_blocker.unblock():
        database = {**connection.settings_dict, "CONN_MAX_AGE": 600}
    return {"DATABASES": {"default": database}, "CELERY_DB_REUSE_MAX": 1000}


def all_sent(pending: QuerySet[Delivery]) -> bool:
    return not pending.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("processes", [1, 2])
@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_api_call_to_last_acknowledgement(
    algorithm,
    processes,
    settings,
    receivers,
    make_organization,
    redis_url,
    django_db_blocker,
    tmp_path,
):
    settings.LOGOUT_SSO = hub = {**HUB, "HUB_SIGNING_KEY": KEYS[algorithm]}
    settings.OIDC_OP_ISSUER = IDP
    organization = make_organization("acme")
    reporter, credential = Application.objects.create_with_credential(
        name="reporter", client_id="reporter"
    )
    reporter.organizations.add(organization)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {credential}")
    results = {}
    # One worker, with one pool process, or two sharing each large fan-out.
    overrides = {
        "LOGOUT_SSO": {**hub, "DELIVERY_TASKS_PER_EVENT": processes},
        "OIDC_OP_ISSUER": IDP,
        **kept_alive(django_db_blocker),
    }
    with running_worker(
        redis_url, database_name(django_db_blocker), tmp_path, overrides, concurrency=processes
    ):
        for n in (1, 10, 100):
            apps = applications(organization, receivers[DELAY][:n], f"e2e{algorithm}{n}")
            times = []
            for run in range(RUNS):
                sub = f"user-{algorithm}-{n}-{run}"
                signed_in_everywhere(organization, apps, sub)
                start = timezone.now()
                response = client.post(
                    "/sso/api/logouts/", {"sub": sub}, content_type="application/json"
                )
                event = LogoutEvent.objects.get(pk=response.json()["event"])
                pending = Delivery.objects.filter(event=event, state=DeliveryState.PENDING)
                wait_for(partial(all_sent, pending), 30, "the worker did not deliver")
                last = event.deliveries.aggregate(last=Max("delivered_at"))["last"]
                assert event.deliveries.filter(state=DeliveryState.DELIVERED).count() == n
                times.append((last - start).total_seconds())
                time.sleep(0.05)  # Let the worker settle between runs (not a result wait).
            results[f"n={n}"] = {
                "median_ms": round(statistics.median(times) * 1e3, 1),
                "p95_ms": round(percentile_95(times) * 1e3, 1),
                "vs_one_receiver_delay": round(statistics.median(times) / DELAY, 2),
            }
    record(
        f"hub_api_to_last_ack_{algorithm}_{processes}_process",
        {"receiver_delay_ms": DELAY * 1e3, "runs": RUNS, **results},
    )
