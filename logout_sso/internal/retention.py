"""Retention: delete the records logout_sso no longer needs, the hub's and this project's.

- tracked sessions ended more than ``SESSION_RETENTION_DAYS`` ago (the hub's registry);
- logout events finished more than ``EVENT_RETENTION_DAYS`` ago, with their deliveries (pending
  events are never purged, whatever their age);
- received signals (:class:`~logout_sso.models.ReceivedSignal`, the jtis of inbound signals)
  received more than ``EVENT_RETENTION_DAYS`` ago (``SIGNAL_MAX_AGE`` is shorter: a replay that
  old is refused for its age);
- entries of the session index (:class:`~logout_sso.models.LocalSession`) whose Django session
  is gone from the session store: only entries older than ``SESSION_COOKIE_AGE`` are looked at,
  and each one's session is asked for through the configured engine's ``SessionStore``, so an
  entry whose session still exists is kept (a back-channel logout must still find it). With
  the database engine, a session past its expiry exists until ``manage.py clearsessions``
  removes it.

Rows are deleted in batches of ``PURGE_BATCH_SIZE`` primary keys: each batch is read oldest
first along an index, then deleted by those primary keys in its own short transaction, so no
table is locked for long and no statement cascades over millions of rows (an event's
deliveries are deleted in batches before the event). Running it again after an interruption,
or twice at once, only deletes what is left.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import models, transaction
from django.utils import timezone

from logout_sso.conf import app_settings
from logout_sso.models import (
    Delivery,
    LocalSession,
    LogoutEvent,
    ReceivedSignal,
    TrackedSession,
)

__all__ = ["PurgeReport", "purge"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PurgeReport:
    """How many rows of each kind a purge deleted (or, in a dry run, would delete)."""

    tracked_sessions: int = 0
    logout_events: int = 0
    deliveries: int = 0
    local_sessions: int = 0
    received_signals: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts by kind, e.g. for JSON."""
        return asdict(self)


def purge(*, dry_run: bool = False, now: datetime | None = None) -> PurgeReport:
    """Delete the tracked sessions, logout events (with their deliveries) and session index
    entries past their retention, as of ``now`` (default: the current time), and return how
    many of each. ``dry_run``: count what would be deleted and delete nothing."""
    now = now or timezone.now()
    size = app_settings.PURGE_BATCH_SIZE
    sessions = TrackedSession.objects.filter(
        ended_at__lt=now - timedelta(days=app_settings.SESSION_RETENTION_DAYS)
    )
    finished_before = now - timedelta(days=app_settings.EVENT_RETENTION_DAYS)
    events = LogoutEvent.objects.filter(completed_at__lt=finished_before)
    signals = ReceivedSignal.objects.filter(received_at__lt=finished_before)
    if dry_run:
        report = PurgeReport(
            tracked_sessions=sessions.count(),
            logout_events=events.count(),
            deliveries=Delivery.objects.filter(event__completed_at__lt=finished_before).count(),
            local_sessions=_purge_local_sessions(now, size, dry_run=True),
            received_signals=signals.count(),
        )
    else:
        tracked_sessions = _delete_in_batches(sessions, "ended_at", size)
        logout_events, deliveries = _purge_events(finished_before, size)
        report = PurgeReport(
            tracked_sessions=tracked_sessions,
            logout_events=logout_events,
            deliveries=deliveries,
            local_sessions=_purge_local_sessions(now, size, dry_run=False),
            received_signals=_delete_in_batches(signals, "received_at", size),
        )
    logger.info("%s: %s", "Purge (dry run)" if dry_run else "Purged", report)
    return report


def _deleted(queryset: models.QuerySet[Any], model: type[models.Model]) -> int:
    """Delete ``queryset`` in one transaction; return how many rows of ``model`` went."""
    with transaction.atomic():
        _total, by_model = queryset.delete()
    return by_model.get(model._meta.label, 0)


def _delete_in_batches(queryset: models.QuerySet[Any], order: str, size: int) -> int:
    """Delete the rows of ``queryset`` ``size`` at a time, oldest ``order`` first (along its
    index: each batch reads ``size`` index entries); return how many were deleted. A row that
    stopped matching between the read and the delete is not deleted, and not read again."""
    deleted = 0
    while pks := list(queryset.order_by(order).values_list("pk", flat=True)[:size]):
        deleted += _deleted(queryset.filter(pk__in=pks), queryset.model)
    return deleted


def _purge_events(finished_before: datetime, size: int) -> tuple[int, int]:
    """Delete the events finished before ``finished_before`` a batch at a time, each batch's
    deliveries first (in batches too); return how many events and deliveries were deleted."""
    events = LogoutEvent.objects.filter(completed_at__lt=finished_before)
    events_deleted = deliveries_deleted = 0
    while pks := list(events.order_by("completed_at").values_list("pk", flat=True)[:size]):
        # Read along the event_id index (a join here would make PostgreSQL read every row).
        deliveries = Delivery.objects.filter(event_id__in=pks).order_by("event_id")
        while delivery_pks := list(deliveries.values_list("pk", flat=True)[:size]):
            deliveries_deleted += _deleted(Delivery.objects.filter(pk__in=delivery_pks), Delivery)
        with transaction.atomic():
            _total, by_model = events.filter(pk__in=pks).delete()
        events_deleted += by_model.get(LogoutEvent._meta.label, 0)
        # A delivery written since the batches above goes with its event.
        deliveries_deleted += by_model.get(Delivery._meta.label, 0)
    return events_deleted, deliveries_deleted


def _purge_local_sessions(now: datetime, size: int, *, dry_run: bool) -> int:
    """Delete (``dry_run``: count) the index entries older than ``SESSION_COOKIE_AGE`` whose
    session the session store no longer has; return how many. Read in primary key order from
    after the last batch, since entries whose session exists stay; the session store is asked
    outside any transaction."""
    store: type[SessionBase] = import_module(settings.SESSION_ENGINE).SessionStore
    candidates = LocalSession.objects.filter(
        created_at__lt=now - timedelta(seconds=settings.SESSION_COOKIE_AGE)
    )
    gone_count = 0
    last_pk: int | None = None
    while True:
        batch = candidates if last_pk is None else candidates.filter(pk__gt=last_pk)
        rows = list(batch.order_by("pk").values_list("pk", "session_key")[:size])
        if not rows:
            return gone_count
        last_pk = rows[-1][0]
        gone = [pk for pk, key in rows if not store(key).exists(key)]
        if dry_run:
            gone_count += len(gone)
        elif gone:
            gone_count += _deleted(candidates.filter(pk__in=gone), LocalSession)
