"""The hub's session registry: applications' sessions as they reported them."""

from __future__ import annotations

from django.utils import timezone

from logout_sso.models import TrackedSession
from logout_sso.models.tracked_sessions import EndReason
from logout_sso.signals import tracked_sessions_expired


def close_expired_sessions() -> int:
    """Mark every tracked session whose expiry has passed as ended; return how many.

    Idempotent: a session already marked is not counted again, so running it twice at once
    (two workers, a redelivered message) is harmless.
    """
    now = timezone.now()
    count = TrackedSession.objects.expired(now).update(ended_at=now, end_reason=EndReason.EXPIRED)
    if count:
        tracked_sessions_expired.send(sender=TrackedSession, count=count)
    return count
