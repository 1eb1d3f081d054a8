"""What an operator watches (``manage.py logout_sso_status``): the hub's deliveries pending and
failed, per application; the organization-wide logouts under way; in client mode, how old this
project's copy of the hub's policies is.

Bounded: two aggregates over the deliveries grouped by application (never a row per delivery
read into Python), one query for the applications, one for the jobs under way, one for the
mirror, whatever the number of deliveries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from logout_sso.models import (
    Application,
    Delivery,
    Organization,
    OrganizationLogoutJob,
)
from logout_sso.models.events import DeliveryState
from logout_sso.models.jobs import JobState
from logout_sso.rp.internal.mirror_state import MirrorState, mirror_state

#: "Failures in the last 24 hours": deliveries recorded this recently that have failed for good.
RECENT = timedelta(hours=24)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _age(moment: datetime | None, now: datetime) -> int | None:
    return None if moment is None else max(0, int((now - moment).total_seconds()))


@dataclass(frozen=True)
class ApplicationStatus:
    name: str
    client_id: str
    enabled: bool
    pending: int
    failed: int  # Failed for good, waiting for a retry (logout_sso_retry) or the purge.
    failed_last_24h: int  # Of those, the ones recorded in the last 24 hours.
    oldest_pending_at: datetime | None
    last_delivered_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "client_id": self.client_id,
            "enabled": self.enabled,
            "pending": self.pending,
            "failed": self.failed,
            "failed_last_24h": self.failed_last_24h,
            "last_delivered_at": _iso(self.last_delivered_at),
        }


@dataclass(frozen=True)
class JobStatus:
    id: int
    organization: str
    state: str
    users_done: int
    users_total: int
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "organization": self.organization,
            "state": self.state,
            "users_done": self.users_done,
            "users_total": self.users_total,
            "created_at": _iso(self.created_at),
        }


@dataclass(frozen=True)
class Status:
    now: datetime
    organization: str | None  # The slug it is limited to.
    applications: list[ApplicationStatus]
    jobs: list[JobStatus]  # Organization-wide logouts not done, oldest first.
    mirror: MirrorState | None  # In client mode.

    @property
    def pending(self) -> int:
        return sum(application.pending for application in self.applications)

    @property
    def failed(self) -> int:
        return sum(application.failed for application in self.applications)

    @property
    def oldest_pending_age(self) -> int | None:
        """Seconds since the oldest pending delivery was recorded (``None``: none pending)."""
        oldest = [a.oldest_pending_at for a in self.applications if a.oldest_pending_at]
        return _age(min(oldest), self.now) if oldest else None

    @property
    def mirror_age(self) -> int | None:
        """Seconds since the hub last confirmed the mirror (``None``: never)."""
        return None if self.mirror is None else _age(self.mirror.synced_at, self.now)

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of ``logout_sso_status --json`` (documented in the commands
        reference: keys are only ever added)."""
        mirror = None
        if self.mirror is not None:
            mirror = {
                "hub_url": self.mirror.hub_url,
                "synced_at": _iso(self.mirror.synced_at),
                "age_seconds": self.mirror_age,
                "attempted_at": _iso(self.mirror.attempted_at),
                "stale": self.mirror.stale,
                "last_error": self.mirror.last_error,
            }
        return {
            "generated_at": _iso(self.now),
            "organization": self.organization,
            "deliveries": {
                "pending": self.pending,
                "failed": self.failed,
                "oldest_pending_age_seconds": self.oldest_pending_age,
            },
            "applications": [application.as_dict() for application in self.applications],
            "organization_logouts": [job.as_dict() for job in self.jobs],
            "mirror": mirror,
        }


def _application_status(application: Application, counts: dict[str, Any]) -> ApplicationStatus:
    return ApplicationStatus(
        name=application.name,
        client_id=application.client_id,
        enabled=application.enabled,
        pending=counts.get("pending", 0),
        failed=counts.get("failed", 0),
        failed_last_24h=counts.get("failed_last_24h", 0),
        oldest_pending_at=counts.get("oldest_pending_at"),
        last_delivered_at=counts.get("last_delivered_at"),
    )


def collect(*, organization: Organization | None = None, client_mode: bool = False) -> Status:
    """The status now: of ``organization``'s logouts only when given (the applications that
    serve it or hold its deliveries, its jobs), with the state of the copy of the hub's
    policies in ``client_mode``."""
    now = timezone.now()
    deliveries = Delivery.objects.order_by()
    applications = Application.objects.order_by("name", "client_id")
    jobs = OrganizationLogoutJob.objects.exclude(state=JobState.DONE).order_by("created_at")
    if organization is not None:
        deliveries = deliveries.filter(event__organization=organization)
        jobs = jobs.filter(organization=organization)
    pending, failed = Q(state=DeliveryState.PENDING), Q(state=DeliveryState.FAILED)
    counts: dict[int, dict[str, Any]] = {}
    # Two aggregates: the pending and failed rows (few) along the state index, then each
    # application's last success (a scan of the delivered rows); twice as fast as one aggregate
    # over every row for both.
    unsettled = (
        deliveries.filter(pending | failed)
        .values("application_id")
        .annotate(
            pending=Count("pk", filter=pending),
            failed=Count("pk", filter=failed),
            failed_last_24h=Count("pk", filter=failed & Q(created_at__gte=now - RECENT)),
            oldest_pending_at=Min("created_at", filter=pending),
        )
    )
    delivered = (
        deliveries.filter(state=DeliveryState.DELIVERED)
        .values("application_id")
        .annotate(last_delivered_at=Max("delivered_at"))
    )
    for row in [*unsettled, *delivered]:
        counts.setdefault(row["application_id"], {}).update(row)
    if organization is not None:
        applications = applications.filter(
            Q(organizations=organization) | Q(pk__in=list(counts))
        ).distinct()
    return Status(
        now=now,
        organization=None if organization is None else organization.slug,
        applications=[
            _application_status(application, counts.get(application.pk, {}))
            for application in applications.only("name", "client_id", "enabled")
        ],
        jobs=[
            JobStatus(
                id=job.pk,
                organization=job.organization.slug,
                state=job.state,
                users_done=job.users_done,
                users_total=job.users_total,
                created_at=job.created_at,
            )
            for job in jobs.select_related("organization")
        ],
        mirror=mirror_state() if client_mode else None,
    )
