"""How far logouts have gone: their deliveries delivered, failed and pending, and for an
organization-wide logout its users done, read in one aggregate query whatever their number."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from logout_sso.hub.internal.jobs import deliveries_of
from logout_sso.models import Delivery, OrganizationLogoutJob
from logout_sso.models.events import DeliveryState
from logout_sso.models.jobs import JobState


@dataclass(frozen=True)
class LogoutProgress:
    """Deliveries by state, sessions ended here; for an organization-wide logout, its state
    and users (``None`` otherwise)."""

    delivered: int
    failed: int
    pending: int
    local_sessions_ended: int
    state: str | None = None
    users_done: int | None = None
    users_total: int | None = None

    @property
    def finished(self) -> bool:
        """Every delivery delivered or failed for good (and, for a job, every user done)."""
        return self.pending == 0 and self.state in (None, JobState.DONE)

    @property
    def total(self) -> int:
        return self.delivered + self.failed + self.pending

    @property
    def done(self) -> int:
        return self.delivered + self.failed

    def deliveries(self) -> dict[str, int]:
        return {
            "total": self.total,
            "delivered": self.delivered,
            "failed": self.failed,
            "pending": self.pending,
        }


def _counts(deliveries: QuerySet[Delivery]) -> tuple[int, int, int]:
    """Delivered, failed and pending, in one query."""
    states = (DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.PENDING)
    counts = deliveries.aggregate(**{s: Count("pk", filter=Q(state=s)) for s in states})
    delivered, failed, pending = (counts[state] for state in states)
    return delivered, failed, pending


def of_events(event_ids: Collection[int], *, local_sessions_ended: int = 0) -> LogoutProgress:
    """The deliveries of these logout events."""
    delivered, failed, pending = _counts(Delivery.objects.filter(event_id__in=event_ids))
    return LogoutProgress(delivered, failed, pending, local_sessions_ended)


def of_job(job: OrganizationLogoutJob) -> LogoutProgress:
    """An organization-wide logout's users done and its deliveries by state."""
    delivered, failed, pending = _counts(deliveries_of(job.pk))
    return LogoutProgress(
        delivered,
        failed,
        pending,
        job.local_sessions_ended,
        state=job.state,
        users_done=job.users_done,
        users_total=job.users_total,
    )
