"""Tasks run by a real Celery worker process on real Redis (no eager mode)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from logout_sso.models import TrackedSession
from logout_sso.tasks import close_expired_sessions
from tests.services import wait_for


def tracked_session(application, organization, session_id, expires_at):
    return TrackedSession.objects.create(
        application=application,
        organization=organization,
        issuer="https://idp.example.com/",
        sub="user-1",
        session_id=session_id,
        expires_at=expires_at,
    )


@pytest.mark.django_db(transaction=True)
def test_worker_ends_expired_sessions(celery_worker, make_organization, make_application):
    organization = make_organization("acme")
    application = make_application("wiki", organization)
    now = timezone.now()
    expired = tracked_session(application, organization, "s-1", now - timedelta(minutes=1))
    live = tracked_session(application, organization, "s-2", now + timedelta(hours=1))

    close_expired_sessions.delay()

    def expired_is_ended() -> bool:
        expired.refresh_from_db()
        return expired.ended_at is not None

    wait_for(expired_is_ended, 30, "the worker did not end the expired session")
    assert expired.end_reason == "expired"
    live.refresh_from_db()
    assert live.ended_at is None
