"""How far logouts have gone: their deliveries delivered, failed and pending, and for an
organization-wide logout its users done, read in one aggregate query whatever their number."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django.db.models import Count, Q

from logout_sso.hub.internal.jobs import JobProgress
from logout_sso.models import Delivery
from logout_sso.models.events import DeliveryState


@dataclass(frozen=True)
class LogoutProgress:
    """Deliveries by state; the users of an organization-wide logout (``None`` otherwise)."""

    delivered: int
    failed: int
    pending: int
    local_sessions_ended: int
    finished: bool  # Every delivery delivered or failed for good (and every user done).
    users_done: int | None = None
    users_total: int | None = None

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


def of_events(event_ids: Collection[int], *, local_sessions_ended: int = 0) -> LogoutProgress:
    """The deliveries of these logout events."""
    counts = Delivery.objects.filter(event_id__in=event_ids).aggregate(
        **{
            state: Count("pk", filter=Q(state=state))
            for state in (DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.PENDING)
        }
    )
    return LogoutProgress(
        delivered=counts[DeliveryState.DELIVERED],
        failed=counts[DeliveryState.FAILED],
        pending=counts[DeliveryState.PENDING],
        local_sessions_ended=local_sessions_ended,
        finished=counts[DeliveryState.PENDING] == 0,
    )


def of_job(progress: JobProgress) -> LogoutProgress:
    """An organization-wide logout's (:func:`logout_sso.api.organization_logout_progress`)."""
    return LogoutProgress(
        delivered=progress.delivered,
        failed=progress.failed,
        pending=progress.pending,
        local_sessions_ended=progress.local_sessions_ended,
        finished=progress.finished,
        users_done=progress.users_done,
        users_total=progress.users_total,
    )
