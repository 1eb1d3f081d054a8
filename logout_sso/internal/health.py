"""The figures of the admin's logout health page, from aggregate queries.

Bounded by a time window (:data:`WINDOW_DAYS` days, counted in hours) and by what they return,
not by how many rows they read: each aggregate groups its rows in the database (by application,
hour and state; by application and latency in milliseconds) and returns at most a few thousand
groups; none reads a row per delivery, session or event into Python. Every query is limited to
the organizations given (``None``: everything, for a superuser).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import NotSupportedError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    F,
    Func,
    IntegerField,
    Max,
    Min,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone
from django.utils.translation import ngettext

from logout_sso.conf import app_settings
from logout_sso.models import (
    Application,
    Delivery,
    LogoutEvent,
    Organization,
    OrganizationLogoutJob,
    TrackedSession,
)
from logout_sso.models.events import DeliveryState
from logout_sso.models.jobs import JobState

if TYPE_CHECKING:
    from django.db.models.sql.compiler import SQLCompiler, _AsSqlType

#: The longest window shown (the daily chart's); the hourly chart shows its last 24 hours.
WINDOW_DAYS = 30
#: The applications that fail most, as many as the page lists.
FAILING_LISTED = 5
#: The percentiles of delivery latency shown.
PERCENTILES = (50, 95, 99)

Scope = QuerySet[Organization] | None


class HoursSince(Func):
    """Whole hours from ``start`` to a datetime column: the hour a row falls in, computed by
    the database itself (Django's ``Trunc`` runs a Python function per row on SQLite)."""

    output_field = IntegerField()
    #: The expression per database vendor, of the column and the start.
    SQL = {
        "postgresql": "CAST(FLOOR(EXTRACT(EPOCH FROM ({column} - {start})) / 3600) AS INTEGER)",
        "sqlite": "CAST((julianday({column}) - julianday({start})) * 24 AS INTEGER)",
    }

    def __init__(self, column: str, start: datetime) -> None:
        super().__init__(column, Value(start, output_field=DateTimeField()))

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> _AsSqlType:
        if connection.vendor not in self.SQL:
            raise NotSupportedError(
                f"The health page needs SQLite or PostgreSQL, not {connection.vendor}."
            )
        column, start = self.source_expressions
        column_sql, column_params = compiler.compile(column)
        start_sql, start_params = compiler.compile(start)
        sql = self.SQL[connection.vendor].format(column=column_sql, start=start_sql)
        return sql, (*column_params, *start_params)


def two_significant_digits(column: str) -> Case:
    """A whole number rounded to two significant digits (1,234 to 1,200), so that the
    latencies grouped by value make a few hundred groups per application, not thousands."""
    whens = [When(**{f"{column}__lt": 100}, then=F(column))]
    for power in range(1, 9):
        unit = 10**power
        whens.append(
            When(**{f"{column}__lt": unit * 100}, then=(F(column) + unit // 2) / unit * unit)
        )
    return Case(*whens, default=F(column), output_field=IntegerField())


@dataclass(frozen=True)
class Window:
    """The hours the page counts in: ``hours`` of them from ``start`` (an hour boundary, at
    local midnight :data:`WINDOW_DAYS` - 1 days before today)."""

    start: datetime
    hours: int

    @classmethod
    def ending(cls, now: datetime) -> Window:
        today = timezone.localtime(now).date()
        midnight = datetime.combine(today - timedelta(days=WINDOW_DAYS - 1), datetime.min.time())
        start = timezone.make_aware(midnight)
        this_hour = now.replace(minute=0, second=0, microsecond=0)
        return cls(start=start, hours=int((this_hour - start).total_seconds()) // 3600 + 1)

    def hour_start(self, index: int) -> datetime:
        return self.start + timedelta(hours=index)

    def days(self) -> list[date]:
        first = timezone.localtime(self.start).date()
        return [first + timedelta(days=n) for n in range(WINDOW_DAYS)]


@dataclass(frozen=True)
class Percentiles:
    """Delivery latency in milliseconds at :data:`PERCENTILES`, to two significant digits."""

    p50: int
    p95: int
    p99: int
    count: int


def percentiles(frequencies: Iterable[tuple[int, int]]) -> Percentiles | None:
    """Exact percentiles (the smallest value with at least p% of the values at or below it)
    from ``(value, how many times)`` pairs; None when there are none."""
    ordered = sorted(frequencies)
    total = sum(times for _value, times in ordered)
    if not total:
        return None
    found: list[int] = []
    cumulative = 0
    targets = iter(p * total / 100 for p in PERCENTILES)
    target = next(targets)
    for value, times in ordered:
        cumulative += times
        while cumulative >= target:
            found.append(value)
            target = next(targets, float("inf"))
    p50, p95, p99 = found
    return Percentiles(p50=p50, p95=p95, p99=p99, count=total)


@dataclass
class ApplicationHealth:
    """One application, as the page shows it: its sessions, deliveries, latency, silence."""

    application: Application
    live_sessions: int = 0
    delivered: int = 0
    failed: int = 0
    pending: int = 0
    oldest_pending_at: datetime | None = None
    #: Deliveries of logouts since the silence cutoff (``SILENT_APPLICATION_DAYS`` ago).
    sent_lately: int = 0
    latency: Percentiles | None = None
    last_session_at: datetime | None = None
    last_acknowledged_at: datetime | None = None
    last_error: str = ""

    def silence(self, cutoff: datetime) -> str:
        """Why the application counts as silent since ``cutoff``; empty while it is heard
        from. Silent: no session registered since (none since it was registered, for a new
        one), or logouts sent to it since and none acknowledged."""
        days = {"days": app_settings.SILENT_APPLICATION_DAYS}
        if (self.last_session_at or self.application.created_at) < cutoff:
            return (
                ngettext(
                    "No session registered in %(days)d day.",
                    "No session registered in %(days)d days.",
                    days["days"],
                )
                % days
            )
        acknowledged = self.last_acknowledged_at
        if self.sent_lately and (acknowledged is None or acknowledged < cutoff):
            return (
                ngettext(
                    "Logouts sent in the last %(days)d day, none acknowledged.",
                    "Logouts sent in the last %(days)d days, none acknowledged.",
                    days["days"],
                )
                % days
            )
        return ""


@dataclass
class Health:
    """Everything the health page shows, for a set of organizations."""

    now: datetime
    window: Window
    applications: list[ApplicationHealth]
    logouts_by_hour: list[int]
    deliveries_by_hour: dict[str, list[int]]
    jobs: list[OrganizationLogoutJob]

    @property
    def live_sessions(self) -> int:
        return sum(application.live_sessions for application in self.applications)

    @property
    def pending(self) -> int:
        """Deliveries pending now (of the window's logouts: retries end long before)."""
        return sum(application.pending for application in self.applications)

    @property
    def oldest_pending(self) -> ApplicationHealth | None:
        """The application whose pending delivery is the oldest, if any is pending."""
        waiting = [a for a in self.applications if a.oldest_pending_at is not None]
        return min(waiting, key=lambda a: a.oldest_pending_at or self.now, default=None)

    @property
    def logouts_last_24h(self) -> int:
        return sum(self.logouts_by_hour[-24:])

    def deliveries_last_24h(self, state: str) -> int:
        return sum(self.deliveries_by_hour[state][-24:])

    @property
    def failing(self) -> list[ApplicationHealth]:
        """The applications with failed deliveries in the window, most failures first."""
        return _most_failing(self.applications)

    @property
    def silent(self) -> list[tuple[ApplicationHealth, str]]:
        """The enabled applications gone silent, each with why."""
        cutoff = silence_cutoff(self.now)
        found = [(a, a.silence(cutoff)) for a in self.applications if a.application.enabled]
        return [(application, reason) for application, reason in found if reason]

    def by_day(self, by_hour: list[int]) -> list[int]:
        """Hourly counts added up by local day, over the window's days."""
        days = self.window.days()
        totals = dict.fromkeys(days, 0)
        for index, count in enumerate(by_hour):
            day = timezone.localtime(self.window.hour_start(index)).date()
            if day in totals:
                totals[day] += count
        return [totals[day] for day in days]


def silence_cutoff(now: datetime) -> datetime:
    return now - timedelta(days=app_settings.SILENT_APPLICATION_DAYS)


def _most_failing(applications: list[ApplicationHealth]) -> list[ApplicationHealth]:
    failing = [application for application in applications if application.failed]
    return sorted(failing, key=lambda application: -application.failed)[:FAILING_LISTED]


def _in_scope(queryset: QuerySet[Any], path: str, organizations: Scope) -> QuerySet[Any]:
    if organizations is None:
        return queryset
    return queryset.filter(**{f"{path}__in": organizations})


def _applications(organizations: Scope, seen: Iterable[int]) -> list[Application]:
    """The applications serving the organizations, and any other that holds their records."""
    applications = Application.objects.order_by("name")
    if organizations is not None:
        applications = applications.filter(
            Q(organizations__in=organizations) | Q(pk__in=list(seen))
        ).distinct()
    return list(applications.only("name", "enabled", "created_at"))


def collect(organizations: Scope = None, now: datetime | None = None) -> Health:
    """The health of the organizations' logouts (of everything when ``organizations`` is
    None) over the last :data:`WINDOW_DAYS` days."""
    now = now or timezone.now()
    window = Window.ending(now)
    cutoff = silence_cutoff(now)
    per_application: dict[int, dict[str, Any]] = defaultdict(dict)
    deliveries_by_hour = {state: [0] * window.hours for state in DeliveryState.values}

    # A delivery is recorded with its logout: across every organization, its own time saves
    # the join to the events (half the time at 1,000,000 deliveries on SQLite).
    began = "created_at" if organizations is None else "event__created_at"
    recent = _in_scope(
        Delivery.objects.order_by().filter(**{f"{began}__gte": window.start}),
        "event__organization",
        organizations,
    )
    grouped = (
        recent.annotate(hour=HoursSince(began, window.start))
        .values("application_id", "hour", "state")
        .annotate(
            count=Count("pk"),
            oldest_pending_at=Min("created_at", filter=Q(state=DeliveryState.PENDING)),
        )
    )
    for row in grouped:
        counts = per_application[row["application_id"]]
        counts[row["state"]] = counts.get(row["state"], 0) + row["count"]
        if row["oldest_pending_at"] is not None:
            counts["oldest_pending_at"] = min(
                row["oldest_pending_at"], counts.get("oldest_pending_at", now)
            )
        if 0 <= row["hour"] < window.hours:
            deliveries_by_hour[row["state"]][row["hour"]] += row["count"]
            if window.hour_start(row["hour"] + 1) > cutoff:
                counts["sent_lately"] = counts.get("sent_lately", 0) + row["count"]

    latencies: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for row in (
        # The delivered rows, known by their time and latency rather than by their state:
        # PostgreSQL without statistics read the state index once per logout (137 s for an
        # organization's 100,000 deliveries).
        recent.filter(delivered_at__isnull=False, latency_ms__isnull=False)
        .values("application_id", latency=two_significant_digits("latency_ms"))
        .annotate(count=Count("pk"), last_acknowledged_at=Max("delivered_at"))
    ):
        latencies[row["application_id"]].append((row["latency"], row["count"]))
        counts = per_application[row["application_id"]]
        counts["last_acknowledged_at"] = max(
            row["last_acknowledged_at"], counts.get("last_acknowledged_at", window.start)
        )

    live = _in_scope(TrackedSession.objects.live().order_by(), "organization", organizations)
    for row in live.values("application_id").annotate(count=Count("pk")):
        per_application[row["application_id"]]["live_sessions"] = row["count"]
    registered = _in_scope(
        TrackedSession.objects.order_by().filter(created_at__gte=window.start),
        "organization",
        organizations,
    )
    for row in registered.values("application_id").annotate(last=Max("created_at")):
        per_application[row["application_id"]]["last_session_at"] = row["last"]

    logouts_by_hour = [0] * window.hours
    events = _in_scope(
        LogoutEvent.objects.order_by().filter(created_at__gte=window.start),
        "organization",
        organizations,
    )
    for row in (
        events.annotate(hour=HoursSince("created_at", window.start))
        .values("hour")
        .annotate(count=Count("pk"))
    ):
        if 0 <= row["hour"] < window.hours:
            logouts_by_hour[row["hour"]] += row["count"]

    applications = [
        ApplicationHealth(
            application=application,
            live_sessions=per_application[application.pk].get("live_sessions", 0),
            delivered=per_application[application.pk].get(DeliveryState.DELIVERED, 0),
            failed=per_application[application.pk].get(DeliveryState.FAILED, 0),
            pending=per_application[application.pk].get(DeliveryState.PENDING, 0),
            oldest_pending_at=per_application[application.pk].get("oldest_pending_at"),
            sent_lately=per_application[application.pk].get("sent_lately", 0),
            latency=percentiles(latencies.get(application.pk, [])),
            last_session_at=per_application[application.pk].get("last_session_at"),
            last_acknowledged_at=per_application[application.pk].get("last_acknowledged_at"),
        )
        for application in _applications(organizations, per_application)
    ]
    for failing in _most_failing(applications):
        failing.last_error = _last_error(recent, failing.application)

    jobs = _in_scope(
        OrganizationLogoutJob.objects.exclude(state=JobState.DONE).order_by("created_at"),
        "organization",
        organizations,
    )
    return Health(
        now=now,
        window=window,
        applications=applications,
        logouts_by_hour=logouts_by_hour,
        deliveries_by_hour=deliveries_by_hour,
        jobs=list(jobs.select_related("organization")),
    )


def _last_error(recent: QuerySet[Delivery], application: Application) -> str:
    """What went wrong the last time a delivery to ``application`` failed for good."""
    last = (
        recent.filter(application=application, state=DeliveryState.FAILED)
        .order_by("-created_at")
        .values_list("last_error", flat=True)
        .first()
    )
    return last or ""
