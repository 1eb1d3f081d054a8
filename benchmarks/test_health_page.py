"""The admin's logout health page at 1,000,000 deliveries (issue 13).

10 organizations, 10 applications serving them all, 100,000 logout events spread evenly over the
last 30 days, each delivered to the 10 applications (1,000,000 deliveries: 97% delivered with a
latency from 20 ms to 2 s, 2% failed, 1% pending) and 100,000 live tracked sessions. Measured:
the figures of one organization's page (100,000 of the deliveries) and of the superuser's page
across all, as ``health.collect`` computes them and as the admin serves the page (rendering
included), median of 5 after a first run; each query's time on the way. Baseline, in the same
run: a plain ``COUNT(*)`` of every delivery. On PostgreSQL, with and without statistics
(``ANALYZE``; this machine's PostgreSQL runs without autovacuum). Size from the environment:
``BENCH_HEALTH_DELIVERIES`` (default 1,000,000; a multiple of 100).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Model
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from benchmarks.test_rp_costs import record
from logout_sso.internal import health
from logout_sso.models import Application, Delivery, LogoutEvent, Organization, TrackedSession
from logout_sso.models.events import DeliveryState

DELIVERIES = int(os.environ.get("BENCH_HEALTH_DELIVERIES", "1000000"))
ORGANIZATIONS = APPLICATIONS = 10
EVENTS = DELIVERIES // APPLICATIONS
SESSIONS = 100_000
RUNS = 5
BATCH = 10_000


@contextmanager
def created_at_as_given(*models: type[Model]) -> Iterator[None]:
    """Let rows be inserted with their own ``created_at`` (the field is ``auto_now_add``)."""
    fields: Any = [model._meta.get_field("created_at") for model in models]
    for field in fields:
        field.auto_now_add = False
    try:
        yield
    finally:
        for field in fields:
            field.auto_now_add = True


def populate() -> tuple[list[Organization], list[Application]]:
    organizations = [
        Organization.objects.create(slug=f"org{n}", name=f"Organization {n}")
        for n in range(ORGANIZATIONS)
    ]
    applications = []
    for n in range(APPLICATIONS):
        application, _token = Application.objects.create_with_credential(
            name=f"Application {n}", client_id=f"app{n}"
        )
        application.organizations.set(organizations)
        applications.append(application)
    now = timezone.now()
    spacing = timedelta(days=30) / EVENTS
    with created_at_as_given(LogoutEvent, TrackedSession):
        for start in range(0, EVENTS, BATCH):
            LogoutEvent.objects.bulk_create(
                LogoutEvent(
                    organization=organizations[n % ORGANIZATIONS],
                    initiator="user",
                    sub=f"user{n}",
                    outcome="completed",
                    created_at=now - spacing * n,
                )
                for n in range(start, min(start + BATCH, EVENTS))
            )
        TrackedSession.objects.bulk_create(
            (
                TrackedSession(
                    application=applications[n % APPLICATIONS],
                    organization=organizations[n // APPLICATIONS % ORGANIZATIONS],
                    issuer="https://idp.example.com/",
                    sub=f"user{n // APPLICATIONS}",
                    session_id=f"s{n}",
                    created_at=now - spacing * n,
                )
                for n in range(SESSIONS)
            ),
            batch_size=BATCH,
        )
    events = LogoutEvent.objects.order_by("pk").values_list("pk", "created_at")
    rows: list[dict[str, Any]] = []
    for number, (event_id, created_at) in enumerate(events.iterator(chunk_size=BATCH)):
        for application in applications:
            kind = (number * APPLICATIONS + application.pk) % 100
            state = (
                DeliveryState.FAILED
                if kind < 2
                else DeliveryState.PENDING
                if kind < 3
                else DeliveryState.DELIVERED
            )
            latency = 20 + (number * 7919 + application.pk * 104_729) % 1980
            delivered = state == DeliveryState.DELIVERED
            rows.append(
                {
                    "event_id": event_id,
                    "application_id": application.pk,
                    "state": state,
                    "attempts": 1,
                    "latency_ms": latency if delivered else None,
                    "last_error": "" if state != DeliveryState.FAILED else "HTTP 500",
                    "created_at": created_at,
                    "delivered_at": created_at + timedelta(milliseconds=latency)
                    if delivered
                    else None,
                }
            )
        if len(rows) >= BATCH:
            Delivery.objects.insert_each(rows, sid="", claim="")
            rows = []
    Delivery.objects.insert_each(rows, sid="", claim="")
    return organizations, applications


def median_ms(action: Callable[[], object]) -> tuple[float, list[tuple[float, str]]]:
    """The median time of ``RUNS`` runs after a first, and the slowest queries of the last."""
    action()
    times = []
    for _run in range(RUNS):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            action()
            times.append((time.perf_counter() - started) * 1000)
    slowest = sorted(
        ((float(query["time"]) * 1000, query["sql"][:90]) for query in queries.captured_queries),
        reverse=True,
    )
    return statistics.median(times), slowest[:4]


def measure(client: Client, organization: Organization) -> dict[str, Any]:
    one = Organization.objects.filter(pk=organization.pk)
    count_ms, _ = median_ms(lambda: Delivery.objects.count())
    one_ms, one_queries = median_ms(lambda: health.collect(one))
    all_ms, all_queries = median_ms(lambda: health.collect(None))
    page = reverse("admin:logout_sso_logouthealth_organization", args=[organization.pk])
    one_page_ms, _ = median_ms(lambda: client.get(page))
    all_page_ms, _ = median_ms(
        lambda: client.get(reverse("admin:logout_sso_logouthealth_changelist"))
    )
    return {
        "count_all_deliveries_ms": round(count_ms, 1),
        "one_organization_figures_ms": round(one_ms, 1),
        "one_organization_page_ms": round(one_page_ms, 1),
        "all_organizations_figures_ms": round(all_ms, 1),
        "all_organizations_page_ms": round(all_page_ms, 1),
        "one_organization_vs_count": round(one_ms / count_ms, 2),
        "all_organizations_vs_count": round(all_ms / count_ms, 2),
        "slowest_queries_one": [f"{ms:.1f} ms {sql}" for ms, sql in one_queries],
        "slowest_queries_all": [f"{ms:.1f} ms {sql}" for ms, sql in all_queries],
    }


@pytest.mark.django_db
def test_health_page_at_a_million_deliveries(settings: Any) -> None:
    settings.DEBUG = False
    started = time.perf_counter()
    organizations, _applications = populate()
    loaded_s = time.perf_counter() - started
    assert Delivery.objects.count() == DELIVERIES
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw"))

    results: dict[str, Any] = {
        "vendor": connection.vendor,
        "deliveries": DELIVERIES,
        "load_s": round(loaded_s, 1),
    }
    if connection.vendor == "postgresql":
        results["without_statistics"] = measure(client, organizations[0])
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    results["measured"] = measure(client, organizations[0])
    record(f"health_page ({connection.vendor})", results)
