"""Claims: which sender holds which deliveries, for how long.

A sender sends only the deliveries it holds a *claim* on: a token in the row, with the next
attempt pushed a lease ahead. A fan-out's deliveries are written already claimed for the tasks
queued to send them (:func:`claims_for`); a retry, or the sweeper, claims the due ones with one
conditional UPDATE (:func:`claim`); a task that starts late renews what it holds, with one
UPDATE too (:func:`renew`). Two workers, a task and the sweeper, or a redelivered message
can therefore never send the same delivery at once, on PostgreSQL as on SQLite.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from django.db import connections, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from logout_sso.conf import app_settings
from logout_sso.hub.internal import outgoing
from logout_sso.hub.internal.outgoing import Outgoing
from logout_sso.models import Delivery
from logout_sso.models.events import DeliveryState

#: Beyond the longest attempt (connect + read timeouts), before a claimed delivery whose sender
#: died (a killed worker) is taken by the sweeper.
LEASE_MARGIN_SECONDS = 5.0
#: Below this many deliveries per task, splitting a fan-out costs more than it saves.
SPLIT_MIN_DELIVERIES = 20


def attempt_seconds() -> float:
    """The longest an attempt takes (connect and read timeouts)."""
    return app_settings.DELIVERY_CONNECT_TIMEOUT + app_settings.DELIVERY_READ_TIMEOUT


def lease_seconds() -> float:
    """How long a claim holds: no attempt outlives it."""
    return attempt_seconds() + LEASE_MARGIN_SECONDS


def new_claim() -> str:
    """A fresh claim token (a ``Delivery.claim``)."""
    return uuid.uuid4().hex


def claims_for(count: int) -> list[str]:
    """The claims of a new fan-out's ``count`` deliveries, in order: one claim, so one task,
    per share (``DELIVERY_TASKS_PER_EVENT`` when the fan-out is large enough to be worth it,
    since sending is CPU-bound under the GIL), the deliveries dealt out among them."""
    shares = max(1, min(app_settings.DELIVERY_TASKS_PER_EVENT, count // SPLIT_MIN_DELIVERIES))
    claims = [new_claim() for _ in range(shares)]
    return [claims[index % shares] for index in range(count)]


def claims_by(size: int) -> Callable[[int], list[str]]:
    """Claims for ``count`` deliveries, a new one every ``size`` deliveries (one task each)."""

    def claims_of(count: int) -> list[str]:
        claims = [new_claim() for _ in range(-(-count // size))]
        return [claims[index // size] for index in range(count)]

    return claims_of


def due() -> Q:
    """Pending deliveries whose next attempt's time has come (their claim's lease too)."""
    return Q(state=DeliveryState.PENDING, next_attempt_at__lte=timezone.now())


def claim(claimable: QuerySet[Delivery], limit: int) -> list[Outgoing]:
    """Take the first ``limit`` of ``claimable`` for this sender (a conditional ``UPDATE``),
    and return them. Claimers at the same moment take different rows: on PostgreSQL the rows
    another one is claiming are skipped (``FOR UPDATE SKIP LOCKED``), not waited for and then
    found taken; SQLite runs one writing statement at a time."""
    first = claimable.order_by("next_attempt_at", "pk").values_list("pk", flat=True)
    token = new_claim()
    with transaction.atomic(using=first.db):
        if connections[first.db].features.has_select_for_update_skip_locked:
            # Read first: a locking subquery inside the UPDATE may run again and take more.
            chosen: Any = list(first.select_for_update(skip_locked=True)[:limit])
        else:
            chosen = first[:limit]  # A subquery: the UPDATE is one statement.
        Delivery.objects.filter(pk__in=chosen).update(
            claim=token, next_attempt_at=timezone.now() + timedelta(seconds=lease_seconds())
        )
    return outgoing.read(Delivery.objects.filter(claim=token), limit)


def take_held(held: QuerySet[Delivery], limit: int) -> list[Outgoing]:
    """The first ``limit`` pending deliveries of a claim this sender was given (``held``),
    claimed again first when their lease is too short for an attempt (a task that started
    late, or a fan-out larger than a batch), so nobody else can take them meanwhile."""
    batch = outgoing.read(held, limit)
    if batch:
        lease_end = min(delivery.next_attempt_at or timezone.now() for delivery in batch)
        if lease_end < timezone.now() + timedelta(seconds=attempt_seconds()):
            return renew(batch, held.db)
    return batch


def renew(batch: list[Outgoing], using: str) -> list[Outgoing]:
    """Claim ``batch`` again, under a new claim and for a whole lease: those of its deliveries
    whose claim has not changed since they were read (one conditional ``UPDATE`` on the rows'
    own columns, which PostgreSQL checks again on a row another sender changed meanwhile: a
    sweeper that took some, or a copy of this task renewing them at the same moment, keeps
    them). Return them. When some were taken, fewer than the batch come back and the
    sender's loop ends: the rest of the claim, past its lease too, is the sweeper's."""
    token = new_claim()
    lease_end = timezone.now() + timedelta(seconds=lease_seconds())
    renewed = (
        Delivery.objects.using(using)
        .filter(
            pk__in=[delivery.pk for delivery in batch],
            claim__in={delivery.claim for delivery in batch},
            state=DeliveryState.PENDING,
        )
        .update(claim=token, next_attempt_at=lease_end)
    )
    if renewed == len(batch):
        return [replace(delivery, claim=token, next_attempt_at=lease_end) for delivery in batch]
    return outgoing.read(Delivery.objects.using(using).filter(claim=token), len(batch))
