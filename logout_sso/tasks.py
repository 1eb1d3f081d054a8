"""Celery tasks: thin ``@shared_task`` wrappers; the work lives in the role modules."""

from __future__ import annotations

from celery import shared_task

from logout_sso.hub import registry


@shared_task(name="logout_sso.close_expired_sessions", ignore_result=False)
def close_expired_sessions() -> int:
    """Mark tracked sessions past their expiry as ended (schedule it with Celery beat)."""
    return registry.close_expired_sessions()
