"""An organization-wide logout at scale, and a single logout of another organization meanwhile
(issue 12): 20,000 users with a session in each of 5 applications (100,000 tracked sessions),
the applications answering after 20 ms from a process of their own, two worker processes on
Redis: one for the default queue (single logouts) and one for the bulk queue (organization-wide
logouts), as the deployment docs route them; or one worker of two processes taking both queues,
as the demo runs.

Measured: the admin's confirming request; the time from it until every delivery is
acknowledged (deliveries per second); a single logout of another organization (an
application's ``POST /sso/api/logouts/`` to its last acknowledgement) alone, before the job,
and while the job runs: the baseline and the figure come from the same run. Sizes from the
environment for a quick try: ``BENCH_ORGANIZATION_USERS`` (default 20,000).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from contextlib import ExitStack
from functools import partial
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Max
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from benchmarks.hub_setup import (
    IDP,
    KEYS,
    applications,
    counting_receivers,
    percentile_95,
    sign_in_everyone,
    signed_in_everywhere,
)
from benchmarks.test_hub_end_to_end import HUB, all_sent, kept_alive
from benchmarks.test_rp_costs import record
from logout_sso import api
from logout_sso.models import (
    Application,
    Delivery,
    LogoutEvent,
    Organization,
    OrganizationLogoutJob,
)
from logout_sso.models.events import DeliveryState
from tests.celery_app import app as celery_app
from tests.services import database_name, running_worker, wait_for

USERS = int(os.environ.get("BENCH_ORGANIZATION_USERS", "20000"))
APPLICATIONS = 5
RECEIVER_DELAY = 0.02
SOLO_RUNS = 5
#: Single logouts measured while the job runs, spread over it.
CONCURRENT_RUNS = 5
BULK_QUEUE = "bench_logout_sso_bulk"
DEFAULT_QUEUE = "bench_logout_sso_default"
ROUTES = {
    "logout_sso.run_organization_logout": {"queue": BULK_QUEUE},
    "logout_sso.deliver_organization_logout": {"queue": BULK_QUEUE},
}


def single_logout(client: Client, organization: Organization, apps: list[Application]) -> float:
    """One user of ``organization`` signed in to every application logs out in one of them:
    seconds from the API call to the last acknowledgement."""
    sub = f"solo-{time.monotonic_ns()}"
    signed_in_everywhere(organization, apps, sub)
    start = timezone.now()
    response = client.post("/sso/api/logouts/", {"sub": sub}, content_type="application/json")
    event = LogoutEvent.objects.get(pk=response.json()["event"])
    pending = Delivery.objects.filter(event=event, state=DeliveryState.PENDING)
    wait_for(partial(all_sent, pending), 60, "the single logout was not delivered")
    last = event.deliveries.aggregate(last=Max("delivered_at"))["last"]
    assert event.deliveries.filter(state=DeliveryState.DELIVERED).count() == len(apps)
    return float((last - start).total_seconds())


def users_done(job: OrganizationLogoutJob, at_least: int) -> bool:
    return OrganizationLogoutJob.objects.get(pk=job.pk).users_done >= at_least


def summary(times: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(times) * 1e3, 1),
        "p95_ms": round(percentile_95(times) * 1e3, 1),
    }


def workers(
    redis_url: str, database: str, log_dir: Any, overrides: dict[str, Any], shared: bool
) -> ExitStack:
    """Two worker processes: one per queue, or one worker of two taking both queues (the
    demo's way)."""
    stack = ExitStack()
    if shared:
        stack.enter_context(
            running_worker(
                redis_url, database, log_dir, overrides, concurrency=2,
                queue=DEFAULT_QUEUE, more_queues=(BULK_QUEUE,),
            )
        )  # fmt: skip
        return stack
    for queue in (BULK_QUEUE, DEFAULT_QUEUE):  # The default queue last: this process's.
        (log_dir / queue).mkdir()
        stack.enter_context(
            running_worker(redis_url, database, log_dir / queue, overrides, queue=queue)
        )
    return stack


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("layout", ["a worker per queue", "one worker for both queues"])
def test_organization_logout_at_scale(
    layout: str, settings: Any, redis_url: str, django_db_blocker: Any, tmp_path: Any
) -> None:
    receivers = counting_receivers(2 * APPLICATIONS, RECEIVER_DELAY)
    slow_ports = receivers.ports
    hub = {**HUB, "HUB_SIGNING_KEY": KEYS["RS256"]}
    settings.LOGOUT_SSO = hub
    settings.OIDC_OP_ISSUER = IDP
    big = Organization.objects.create(slug="big", name="Big")
    small = Organization.objects.create(slug="small", name="Small")
    big_apps = applications(big, slow_ports[:APPLICATIONS], "big")
    small_apps = applications(small, slow_ports[APPLICATIONS:], "small")
    reporter, credential = Application.objects.create_with_credential(
        name="reporter", client_id="reporter"
    )
    reporter.organizations.add(small)
    api_client = Client(HTTP_AUTHORIZATION=f"Bearer {credential}")
    admin = Client()
    admin.force_login(User.objects.create_superuser("root"))
    setup_started = time.monotonic()
    sign_in_everyone(big, big_apps, USERS)
    setup_seconds = time.monotonic() - setup_started

    overrides = {
        "LOGOUT_SSO": hub,
        "OIDC_OP_ISSUER": IDP,
        "CELERY_TASK_ROUTES": ROUTES,
        **kept_alive(django_db_blocker),
    }
    database = database_name(django_db_blocker)
    celery_app.conf.task_routes = ROUTES
    shared = layout == "one worker for both queues"
    try:
        with workers(redis_url, database, tmp_path, overrides, shared):
            solo = [single_logout(api_client, small, small_apps) for _ in range(SOLO_RUNS)]

            request_started = time.monotonic()
            response = admin.post(
                reverse("admin:logout_sso_organization_changelist"),
                {"action": "log_out_everyone", "_selected_action": [big.pk], "confirm": "yes"},
            )
            request_seconds = time.monotonic() - request_started
            clicked = timezone.now()
            assert response.status_code == 302
            job = OrganizationLogoutJob.objects.get()

            concurrent = []
            for run in range(CONCURRENT_RUNS):
                wanted = USERS * (run + 1) // (CONCURRENT_RUNS + 1)
                wait_for(partial(users_done, job, wanted), 900, "the job did not move")
                concurrent.append(single_logout(api_client, small, small_apps))

            wait_for(
                lambda: api.organization_logout_progress(job).finished,
                1800,
                "the job's deliveries were not all acknowledged",
            )
    finally:
        celery_app.conf.task_routes = None
        posts = receivers.close()
    job_deliveries = Delivery.objects.filter(event__job=job)
    last = job_deliveries.aggregate(last=Max("delivered_at"))["last"]
    total_seconds = (last - clicked).total_seconds()
    # What the job's page reads: a filter on the state instead lets PostgreSQL without
    # statistics (autovacuum is off here) AND the state index into each event's: minutes.
    delivered = api.organization_logout_progress(job).delivered
    results = {
        "workers": layout,
        "database": connection.vendor,
        "users": USERS,
        "applications": APPLICATIONS,
        "tracked_sessions": USERS * APPLICATIONS,
        "receiver_delay_ms": RECEIVER_DELAY * 1e3,
        "setup_s": round(setup_seconds, 1),
        "admin_request_ms": round(request_seconds * 1e3, 1),
        "until_last_acknowledgement_s": round(total_seconds, 1),
        "deliveries": delivered,
        "deliveries_lost": USERS * APPLICATIONS - delivered,
        # Every POST the receivers answered, the single logouts' (5 each) included.
        "posts_sent_twice": posts - delivered - APPLICATIONS * (SOLO_RUNS + CONCURRENT_RUNS),
        "deliveries_per_s": round(delivered / total_seconds),
        "single_logout_alone": summary(solo),
        "single_logout_during_job": summary(concurrent),
        "during_vs_alone": round(statistics.median(concurrent) / statistics.median(solo), 2),
    }
    print("\n" + json.dumps(results, indent=2))
    record(f"organization_logout_at_scale ({layout})", results)
    assert delivered == USERS * APPLICATIONS
