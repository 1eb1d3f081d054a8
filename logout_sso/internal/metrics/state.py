"""The figures read from the database at scrape time: the fleet-wide truth, whatever the number
of web processes, Celery workers and hosts, since they all share the database.

Each query reads only the rows it reports on, along an index: the pending deliveries
(``Delivery.objects.pending_by_application``: 1.4 ms on PostgreSQL, 5 ms on SQLite for 1,000
pending among 1,000,000 deliveries),
the unfinished organization-wide logouts (``logout_sso_job_unfinished``), the applications; in
client mode the mirror's one row. The live tracked sessions are the exception: counting them
reads them all (0.2 s for 1,000,000 on PostgreSQL, about 1 s on SQLite), so they are counted
at most once a minute for the whole fleet, the count kept in the shared cache.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from django.core.cache import caches
from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from logout_sso.conf import app_settings
from logout_sso.handlers import is_hub
from logout_sso.models import Application, Delivery, OrganizationLogoutJob, TrackedSession
from logout_sso.models.jobs import JobState
from logout_sso.rp.internal import hub_membership
from logout_sso.rp.internal.mirror_state import mirror_state

LIVE_SESSIONS_KEY = "logout_sso:metrics:live-sessions:v1"
#: How long a count of the live tracked sessions is reported before they are counted again.
LIVE_SESSIONS_SECONDS = 60


class DatabaseCollector(Collector):
    """The hub's pending deliveries, organization-wide logouts and live sessions; in client
    mode, the age of the copy of the hub's policies."""

    def collect(self) -> Iterator[Metric]:
        if is_hub():
            yield from hub_state()
        if hub_membership.enabled():
            yield from mirror_metrics()


def live_sessions() -> dict[int, int]:
    """The live tracked sessions of each application that has some, counted at most once a
    minute (:data:`LIVE_SESSIONS_SECONDS`) by any process."""
    cache = caches[app_settings.CACHE_ALIAS]
    counts: dict[int, int] | None = cache.get(LIVE_SESSIONS_KEY)
    if counts is None:
        counts = dict(
            TrackedSession.objects.live()
            .order_by()
            .values("application_id")
            .annotate(count=Count("pk"))
            .values_list("application_id", "count")
        )
        cache.set(LIVE_SESSIONS_KEY, counts, LIVE_SESSIONS_SECONDS)
    return counts


def hub_state() -> Iterator[Metric]:
    now = timezone.now()
    names = dict(Application.objects.order_by().values_list("pk", "name"))
    pending = GaugeMetricFamily(
        "logout_sso_deliveries_pending",
        "Back-channel logouts not yet delivered nor failed for good, by application.",
        labels=["application"],
    )
    oldest = GaugeMetricFamily(
        "logout_sso_delivery_oldest_pending_age_seconds",
        "Since the oldest pending back-channel logout was recorded, by application (0: none "
        "pending).",
        labels=["application"],
    )
    rows = {
        application_id: (count, first)
        for application_id, count, first in Delivery.objects.pending_by_application()
    }
    for application_id, name in names.items():
        count, first = rows.get(application_id, (0, None))
        pending.add_metric([name], count)
        oldest.add_metric([name], 0 if first is None else (now - first).total_seconds())
    yield pending
    yield oldest

    sessions = GaugeMetricFamily(
        "logout_sso_tracked_sessions_live",
        "Live sessions the hub tracks, by application (counted at most once a minute).",
        labels=["application"],
    )
    live = live_sessions()
    for application_id, name in names.items():
        sessions.add_metric([name], live.get(application_id, 0))
    yield sessions

    jobs = GaugeMetricFamily(
        "logout_sso_organization_logouts_in_progress",
        "Organization-wide logout jobs not done, by state (queued, running).",
        labels=["state"],
    )
    unfinished = dict(
        OrganizationLogoutJob.objects.exclude(state=JobState.DONE)
        .order_by()
        .values("state")
        .annotate(count=Count("pk"))
        .values_list("state", "count")
    )
    for state in (JobState.QUEUED, JobState.RUNNING):
        jobs.add_metric([state.value], unfinished.get(state.value, 0))
    yield jobs


def mirror_metrics() -> Iterator[Metric]:
    state = mirror_state()
    yield GaugeMetricFamily(
        "logout_sso_policy_mirror_age_seconds",
        "Client mode: since the hub last confirmed this project's copy of its organizations "
        "and policies (+Inf: never).",
        value=math.inf if state.age is None else state.age.total_seconds(),
    )
    yield GaugeMetricFamily(
        "logout_sso_policy_mirror_stale",
        "Client mode: 1 when that copy is stale (not confirmed for five times "
        "POLICY_SYNC_INTERVAL), else 0.",
        value=int(state.stale),
    )
