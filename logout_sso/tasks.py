"""Celery tasks: thin ``@shared_task`` wrappers; the work lives in the role modules.

Every task takes ids and is idempotent: a redelivered message (``task_acks_late``) finds the
deliveries already claimed or done and sends nothing twice.
"""

from __future__ import annotations

from celery import shared_task

from logout_sso.hub import registry, sender

#: A retry due sooner than this is queued with a countdown (well under Redis' visibility
#: timeout, so it never runs twice); later ones are left to the sweeper.
SHORT_RETRY_SECONDS = 60


@shared_task(name="logout_sso.close_expired_sessions")
def close_expired_sessions() -> int:
    """Mark tracked sessions past their expiry as ended (schedule it with Celery beat)."""
    return registry.close_expired_sessions()


@shared_task(name="logout_sso.deliver_event")
def deliver_event(event_id: int) -> int:
    """Send a logout event's back-channel logouts, all at once; queue the next retry."""
    delivered = sender.deliver_event(event_id)
    delay = sender.retry_soon(event_id)
    if delay is not None and delay <= SHORT_RETRY_SECONDS:
        deliver_event.apply_async((event_id,), countdown=delay)
    return delivered


@shared_task(name="logout_sso.send_due_deliveries")
def send_due_deliveries() -> int:
    """The sweeper: send every delivery whose time has come, whether or not its message
    survived (schedule it with Celery beat, e.g. every 30 s)."""
    return sender.send_due()
