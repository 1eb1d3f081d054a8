"""Limits on what one application can make the hub store or send (``LOGOUT_SSO`` settings):

- ``MAX_SESSIONS_PER_USER``: live sessions of one user (issuer and ``sub``) in one application,
  so that a logout naming that user (one token per session for an application that requires a
  ``sid``) stays a bounded fan-out;
- ``MAX_SESSIONS_PER_APPLICATION``: live sessions of one application;
- ``LOGOUT_REPORTS_PER_MINUTE``: logout reports of one application, per calendar minute.

A limit reached is a :class:`LimitReached`, which the session API answers with 429 and
``Retry-After``. Counts that would cost a scan on every call live in the shared cache: the
application's live sessions are counted in the database at most once a minute and counted up
by each new registration in between (an estimate that errs high, never low, until the next
count); reports are counted per minute with the cache's atomic increment (django-redis).
"""

from __future__ import annotations

import math
import time
from contextlib import suppress

from django.core.cache import caches

from logout_sso.conf import app_settings
from logout_sso.models import Application, TrackedSession

#: How long a database count of an application's live sessions is trusted.
COUNT_SECONDS = 60
#: When a full session table may have room again: sessions end by logout, removal or expiry.
SESSIONS_RETRY_AFTER_SECONDS = 60


class LimitReached(Exception):
    """A limit of the caller's application is reached; try again after ``retry_after`` s."""

    def __init__(self, description: str, retry_after: int) -> None:
        super().__init__(description)
        self.description, self.retry_after = description, retry_after


def _live_sessions_key(application_id: int) -> str:
    return f"logout_sso:quota:live-sessions:{application_id}"


def admit_session(application: Application, *, issuer: str, sub: str) -> None:
    """Raise :class:`LimitReached` when a new session of ``sub`` would exceed a limit."""
    per_user = app_settings.MAX_SESSIONS_PER_USER
    of_user = TrackedSession.objects.live().filter(application=application, issuer=issuer, sub=sub)
    if of_user[:per_user].count() >= per_user:
        raise LimitReached(
            f"This user already has {per_user} live sessions in this application "
            '(LOGOUT_SSO["MAX_SESSIONS_PER_USER"]): remove ended ones first.',
            SESSIONS_RETRY_AFTER_SECONDS,
        )
    per_application = app_settings.MAX_SESSIONS_PER_APPLICATION
    if live_sessions(application) >= per_application:
        raise LimitReached(
            f"This application already has {per_application} live sessions "
            '(LOGOUT_SSO["MAX_SESSIONS_PER_APPLICATION"]): remove ended ones first.',
            SESSIONS_RETRY_AFTER_SECONDS,
        )


def live_sessions(application: Application) -> int:
    """The application's live sessions: counted at most once a minute, estimated between."""
    cache = caches[app_settings.CACHE_ALIAS]
    key = _live_sessions_key(application.pk)
    count: int | None = cache.get(key)
    if count is None:
        count = TrackedSession.objects.live().filter(application=application).count()
        cache.set(key, count, COUNT_SECONDS)
    return count


def session_admitted(application: Application) -> None:
    """Count a new session of the application until its next database count."""
    # Not counted yet, or the count expired (ValueError): the next call counts in the database.
    with suppress(ValueError):
        caches[app_settings.CACHE_ALIAS].incr(_live_sessions_key(application.pk))


def admit_logout_report(application: Application) -> None:
    """Count one logout report; raise :class:`LimitReached` beyond the minute's allowance."""
    limit = app_settings.LOGOUT_REPORTS_PER_MINUTE
    now = time.time()
    minute = int(now // 60)
    cache = caches[app_settings.CACHE_ALIAS]
    key = f"logout_sso:quota:reports:{application.pk}:{minute}"
    cache.add(key, 0, 120)
    try:
        reports = cache.incr(key)
    except ValueError:  # Evicted between add and incr: count this one as the first.
        cache.add(key, 1, 120)
        reports = 1
    if reports > limit:
        raise LimitReached(
            f"This application reported {limit} logouts this minute "
            '(LOGOUT_SSO["LOGOUT_REPORTS_PER_MINUTE"]).',
            max(1, math.ceil((minute + 1) * 60 - now)),
        )
