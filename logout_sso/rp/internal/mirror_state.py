"""Client mode: how fresh this project's copy of the hub's organizations and policies is, and
the record of each attempt to refresh it (:class:`~logout_sso.models.PolicyMirror`).

The copy is *stale* when the hub has not confirmed it for :data:`STALE_AFTER_INTERVALS` times
``POLICY_SYNC_INTERVAL`` (or never did): the admin shows a banner, ``manage.py check`` a
warning, ``logout_sso_sync`` and the status command say so. The last known policies stay in
force meanwhile.

A failure is logged as one warning when a streak of failures begins (whichever process sees it
first: the record is shared), and the first success after it as "back in sync"; the attempts in
between only update the record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone

from logout_sso.conf import app_settings
from logout_sso.internal.untrusted import printable
from logout_sso.models import PolicyMirror

logger = logging.getLogger(__name__)

#: The copy is stale when not confirmed for this many intervals.
STALE_AFTER_INTERVALS = 5
MAX_ERROR_LENGTH = 1000


def stale_after() -> timedelta:
    """How long an unconfirmed copy stays fresh: five times ``POLICY_SYNC_INTERVAL``."""
    return timedelta(seconds=STALE_AFTER_INTERVALS * app_settings.POLICY_SYNC_INTERVAL)


@dataclass(frozen=True)
class MirrorState:
    """The copy's freshness, as of ``now``."""

    hub_url: str
    synced_at: datetime | None  # when the hub last confirmed it; None: never
    attempted_at: datetime | None
    last_error: str  # why the last attempt failed; "" when it succeeded
    now: datetime

    @property
    def age(self) -> timedelta | None:
        """Since the hub last confirmed the copy; None when it never did."""
        return None if self.synced_at is None else self.now - self.synced_at

    @property
    def stale(self) -> bool:
        """Never confirmed, or not for longer than :func:`stale_after`."""
        return self.age is None or self.age > stale_after()


def mirror_state(using: str = DEFAULT_DB_ALIAS) -> MirrorState:
    """The copy's state, for the hub of ``HUB_URL`` (one query)."""
    hub_url = app_settings.HUB_URL or ""
    row = PolicyMirror.objects.using(using).filter(hub_url=hub_url).first()
    if row is None:
        return MirrorState(hub_url, None, None, "", timezone.now())
    return MirrorState(hub_url, row.synced_at, row.attempted_at, row.last_error, timezone.now())


def record_success(hub_url: str, etag: str, attempted_at: datetime) -> None:
    """The hub confirmed the copy (a new answer applied, or 304); "back in sync" when this ends
    a streak of failures."""
    mirror, _created = PolicyMirror.objects.get_or_create(hub_url=hub_url)
    values = {"etag": etag, "synced_at": timezone.now(), "attempted_at": attempted_at}
    ended_a_streak = (
        PolicyMirror.objects.filter(pk=mirror.pk)
        .exclude(last_error="")
        .update(last_error="", **values)
    )
    if ended_a_streak:
        logger.info("Back in sync with the hub %s: its organizations and policies apply.", hub_url)
    else:
        PolicyMirror.objects.filter(pk=mirror.pk).update(**values)


def record_failure(hub_url: str, reason: str, attempted_at: datetime) -> str:
    """The attempt failed for ``reason`` (escaped here); one warning per streak. Returns the
    reason as recorded."""
    reason = printable(reason, limit=MAX_ERROR_LENGTH)
    mirror, _created = PolicyMirror.objects.get_or_create(hub_url=hub_url)
    values = {"last_error": reason, "attempted_at": attempted_at}
    began_a_streak = PolicyMirror.objects.filter(pk=mirror.pk, last_error="").update(**values)
    if began_a_streak:
        logger.warning(
            "Cannot refresh the organizations and policies mirrored from the hub %s: %s. The "
            "last known ones stay in force (confirmed %s); retried every %s s, and logged "
            "again once back in sync.",
            hub_url,
            reason,
            mirror.synced_at.isoformat() if mirror.synced_at else "never",
            app_settings.POLICY_SYNC_INTERVAL,
        )
    else:
        PolicyMirror.objects.filter(pk=mirror.pk).update(**values)
        logger.debug("Still cannot refresh the policies mirrored from %s: %s", hub_url, reason)
    return reason
