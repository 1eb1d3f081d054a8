"""Sending back-channel logouts: concurrently, over kept-alive connections, with retries.

A sender sends only the deliveries it holds a claim on (:mod:`~logout_sso.hub.internal.claims`:
so no two senders send the same delivery at once). It signs a fresh token
for each (RSA ones on a thread per core, since RSA signing releases the GIL) and POSTs them all
at once from one thread over libcurl, which checks every address it connects to (one Celery
task per delivery on a prefork worker would send them one after another). Last it records each
outcome.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache, partial
from urllib.parse import urlencode

from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError
from django.db.models import Count, QuerySet
from django.utils import timezone

from logout_sso.conf import app_settings
from logout_sso.hub.internal.claims import claim, due, lease_seconds, take_held
from logout_sso.hub.internal.outgoing import Outgoing
from logout_sso.hub.internal.tokens import LogoutTokenSigner, current_signer
from logout_sso.hub.internal.transport import Request, Response, post_all
from logout_sso.internal import metrics
from logout_sso.internal.transactions import atomic_until, is_lock_error
from logout_sso.internal.untrusted import printable
from logout_sso.models import Delivery, LogoutEvent, LogoutPolicy
from logout_sso.models.events import DeliveryState, Outcome
from logout_sso.signals import delivery_failed

logger = logging.getLogger(__name__)

ERROR_EXCERPT = 300
#: The longest ``Retry-After`` honoured: an absurd one must not overflow the next attempt's time.
MAX_RETRY_AFTER_SECONDS = 24 * 60 * 60


@dataclass(frozen=True)
class Attempt:
    """What happened to one POST."""

    delivered: bool
    permanent: bool = False  # Retrying cannot help (the application said no).
    status: int | None = None
    error: str = ""
    retry_after: float | None = None
    #: When the application answered (or the attempt ended): the batch is recorded later.
    finished_at: datetime = field(default_factory=timezone.now)


@lru_cache(maxsize=1)
def preparation_pool(pid: int) -> ThreadPoolExecutor:
    """The process's threads that sign tokens with RSA keys, one per core (a pool of a parent
    process has no threads after a fork: hence the ``pid``)."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="logout-sso")


@dataclass(frozen=True)
class Sending:
    """What every attempt of a batch takes from the settings, read once for the batch."""

    signer: LogoutTokenSigner
    allow_private: bool
    ca_bundle: str | None
    connect_timeout: float
    read_timeout: float

    @classmethod
    def from_settings(cls) -> Sending:
        return cls(
            signer=current_signer(),
            allow_private=app_settings.DELIVERY_ALLOW_PRIVATE_ADDRESSES,
            ca_bundle=app_settings.DELIVERY_CA_BUNDLE,
            connect_timeout=app_settings.DELIVERY_CONNECT_TIMEOUT,
            read_timeout=app_settings.DELIVERY_READ_TIMEOUT,
        )


def prepare(delivery: Outgoing, sending: Sending) -> Request | Attempt:
    """The request of one attempt (a fresh logout token for the application), or already the
    attempt's outcome when no request can be made. Never raises: whatever goes wrong is the
    attempt's outcome, so one application cannot spoil a batch."""
    if not delivery.application_enabled:
        return Attempt(delivered=False, permanent=True, error="The application is disabled.")
    try:
        token = sending.signer.sign(
            audience=delivery.client_id, sub=delivery.sub, sid=delivery.token_sid
        )
    except Exception as exc:
        logger.exception(
            "Back-channel logout to %s failed unexpectedly", printable(delivery.application_name)
        )
        return Attempt(
            delivered=False, error=printable(f"{type(exc).__name__}: {exc}", limit=ERROR_EXCERPT)
        )
    return Request(
        url=delivery.backchannel_logout_uri,
        body=urlencode({"logout_token": token}).encode(),
        connect_timeout=sending.connect_timeout,
        read_timeout=sending.read_timeout,
        allow_private_addresses=sending.allow_private,
        ca_bundle=sending.ca_bundle,
    )


def attempt_from(response: Response) -> Attempt:
    """What an application's answer means: 200 and 204 are success (OIDC Back-Channel Logout
    2.8), 429 and 5xx and no answer are worth a retry, any other status is a refusal."""
    # What the application (or libcurl, about its host) said is kept for the admin and logged:
    # escaped, so that it can neither forge a log line nor hide what it says.
    status, body = response.status, printable(response.body, limit=ERROR_EXCERPT)
    error = printable(response.error, limit=ERROR_EXCERPT)
    if response.refused:
        # An address the hub must not reach, or a certificate it cannot trust: configuration.
        return Attempt(
            delivered=False, permanent=True, error=error, finished_at=response.finished_at
        )
    if status is None:
        return Attempt(delivered=False, error=error, finished_at=response.finished_at)
    if status in (200, 204):
        return Attempt(delivered=True, status=status, finished_at=response.finished_at)
    return Attempt(
        delivered=False,
        permanent=status < 500 and status != 429,
        status=status,
        error=body,
        retry_after=retry_after(response.retry_after) if status == 429 else None,
        finished_at=response.finished_at,
    )


def attempt_all(deliveries: list[Outgoing]) -> list[Attempt]:
    """One attempt of each delivery, all at once; their outcomes in the same order."""
    try:
        sending = Sending.from_settings()
    except ImproperlyConfigured as exc:  # Each delivery shows why (checks report it too).
        error = printable(str(exc), limit=ERROR_EXCERPT)
        return [Attempt(delivered=False, error=error) for _ in deliveries]
    prepare_one = partial(prepare, sending=sending)
    if sending.signer.key.algorithm.startswith("RS"):
        # RSA signing (about 0.5 ms a token) releases the GIL: spread it over the cores. An
        # ES256 signature (about 0.06 ms) costs less than a hand-off to another thread.
        prepared = list(preparation_pool(os.getpid()).map(prepare_one, deliveries))
    else:
        prepared = [prepare_one(delivery) for delivery in deliveries]
    requests = [(i, request) for i, request in enumerate(prepared) if isinstance(request, Request)]
    answered = dict(post_all(requests, app_settings.DELIVERY_CONCURRENCY))
    return [
        attempt_from(answered[index]) if isinstance(outcome, Request) else outcome
        for index, outcome in enumerate(prepared)
    ]


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (a number or an HTTP date), if any."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        seconds = (parsedate_to_datetime(value) - timezone.now()).total_seconds()
    except (TypeError, ValueError):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)


def backoff_seconds(policy: LogoutPolicy | None, attempts: int) -> float:
    """Exponential backoff with jitter: half the delay fixed, half random."""
    base = policy.delivery_backoff_seconds if policy else 2
    ceiling = policy.delivery_backoff_max_seconds if policy else 300
    delay = float(min(ceiling, base * 2 ** (attempts - 1)))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not security


def fields_after(
    delivery: Outgoing, attempt: Attempt, now: datetime, policy: LogoutPolicy | None
) -> dict[str, object]:
    """The fields of the delivery after this attempt, under its organization's ``policy``."""
    attempts = delivery.attempts + 1
    fields: dict[str, object] = {
        "attempts": attempts,
        "last_status": attempt.status,
        "last_error": attempt.error,
        "claim": "",
    }
    if attempt.delivered:
        latency = (attempt.finished_at - delivery.event_created_at).total_seconds() * 1000
        fields |= {
            "state": DeliveryState.DELIVERED,
            "delivered_at": attempt.finished_at,
            "latency_ms": int(latency),
            "next_attempt_at": None,
        }
    elif attempt.permanent or attempts >= (policy.delivery_max_attempts if policy else 12):
        fields |= {"state": DeliveryState.FAILED, "next_attempt_at": None}
    else:
        delay = attempt.retry_after
        if delay is None:
            delay = backoff_seconds(policy, attempts)
        fields["next_attempt_at"] = now + timedelta(seconds=delay)
    return fields


def record(deliveries: list[Outgoing], attempts: list[Attempt]) -> list[dict[str, object]]:
    """Store every attempt's outcome, except for deliveries another sender took over since
    (their claim changed); return each delivery's new fields."""
    policies = LogoutPolicy.objects.in_bulk(
        {delivery.organization_id for delivery in deliveries} - {None}
    )
    now = timezone.now()
    changes = [
        (delivery, fields_after(delivery, attempt, now, policies.get(delivery.organization_id)))
        for delivery, attempt in zip(deliveries, attempts, strict=True)
    ]
    Delivery.objects.update_each_if_claimed(changes)
    return [fields for _, fields in changes]


def announce_failures(failures: list[tuple[Outgoing, dict[str, object]]]) -> None:
    """Tell the operators users are still signed in at these applications (a warning each, and
    the ``delivery_failed`` signal)."""
    recorded = Delivery.objects.select_related("application", "event").in_bulk(
        [delivery.pk for delivery, _ in failures]
    )
    for delivery, fields in failures:
        logger.warning(
            "Back-channel logout to %s (event %s) failed for good after %s attempt(s): %s",
            printable(delivery.application_name),
            delivery.event_id,
            fields["attempts"],
            fields["last_error"] or f"HTTP {fields['last_status']}",
        )
        if delivery.pk in recorded:  # Not if its event was deleted meanwhile.
            delivery_failed.send(
                sender=Delivery,
                delivery=recorded[delivery.pk],
                attempts=fields["attempts"],
                last_status=fields["last_status"],
                last_error=fields["last_error"],
            )


def settle(event_ids: Iterable[int]) -> None:
    """Give each event whose deliveries are all done its outcome (one query to count them,
    one update per outcome, however many events)."""
    counts: dict[int, dict[str, int]] = {}
    rows = (
        Delivery.objects.filter(event_id__in=set(event_ids))
        .order_by()
        .values_list("event_id", "state")
        .annotate(count=Count("pk"))
    )
    for event_id, state, count in rows:
        counts.setdefault(event_id, {})[state] = count
    outcomes: dict[Outcome, list[int]] = {}
    for event_id, by_state in counts.items():
        if by_state.get(DeliveryState.PENDING):
            continue
        delivered, total = by_state.get(DeliveryState.DELIVERED, 0), sum(by_state.values())
        outcome = (
            Outcome.COMPLETED
            if delivered == total
            else Outcome.FAILED
            if delivered == 0
            else Outcome.PARTIAL
        )
        outcomes.setdefault(outcome, []).append(event_id)
    now = timezone.now()
    for settled_as, settled in outcomes.items():
        LogoutEvent.objects.filter(pk__in=settled, completed_at__isnull=True).update(
            outcome=settled_as, completed_at=now
        )


def lease_deadline(deliveries: list[Outgoing]) -> float:
    """When the first of these deliveries' claims runs out (a :func:`time.monotonic` time)."""
    ends = [delivery.next_attempt_at for delivery in deliveries if delivery.next_attempt_at]
    left = (min(ends) - timezone.now()).total_seconds() if ends else lease_seconds()
    return time.monotonic() + left


def record_batch(
    deliveries: list[Outgoing], attempts: list[Attempt]
) -> list[dict[str, object]] | None:
    """:func:`record` and :func:`settle` the batch in one transaction (one commit, not one per
    delivery), tried again while another writer's lock refuses it ("database is locked") and
    the claims hold: once their lease is over, the sweeper may take the deliveries and send
    them again. None, with a warning, when it could not be recorded in that time."""

    def record_and_settle() -> list[dict[str, object]]:
        outcomes = record(deliveries, attempts)
        settle(delivery.event_id for delivery in deliveries)
        return outcomes

    try:
        return atomic_until(
            record_and_settle,
            deadline=lease_deadline(deliveries),
            what=f"Recording {len(deliveries)} back-channel logout(s)",
        )
    except OperationalError as exc:
        if not is_lock_error(exc):
            raise
        logger.warning(
            "The outcomes of %s back-channel logout(s) (events %s) could not be recorded "
            "before their claims ran out (%s): they will be sent again.",
            len(deliveries),
            ", ".join(str(event_id) for event_id in sorted({d.event_id for d in deliveries})),
            exc,
        )
        return None


@dataclass(frozen=True)
class Sent:
    """What a sender did: how many it delivered, and when the first of those it tried and
    left pending is due again (None: none is)."""

    delivered: int = 0
    retry_at: datetime | None = None

    def __add__(self, other: Sent) -> Sent:
        due_times = [at for at in (self.retry_at, other.retry_at) if at is not None]
        return Sent(self.delivered + other.delivered, min(due_times, default=None))

    def retry_in(self) -> float | None:
        """Seconds until that retry, if any."""
        if self.retry_at is None:
            return None
        return max(0.0, (self.retry_at - timezone.now()).total_seconds())


def send(deliveries: list[Outgoing]) -> Sent:
    """Send claimed deliveries concurrently."""
    if not deliveries:
        return Sent()
    attempts = attempt_all(deliveries)
    delivered = sum(attempt.delivered for attempt in attempts)
    outcomes = record_batch(deliveries, attempts)
    if outcomes is None:
        return Sent(delivered)
    metrics.delivery_attempts_recorded(
        (delivery.application_name, fields)
        for delivery, fields in zip(deliveries, outcomes, strict=True)
    )
    failures = [
        (delivery, fields)
        for delivery, fields in zip(deliveries, outcomes, strict=True)
        if fields.get("state") == DeliveryState.FAILED
    ]
    if failures:
        announce_failures(failures)
    retries = [
        fields["next_attempt_at"]
        for fields in outcomes
        if "state" not in fields and isinstance(fields["next_attempt_at"], datetime)
    ]
    return Sent(delivered, min(retries, default=None))


def send_in_batches(take: Callable[[int], list[Outgoing]], limit: int | None = None) -> Sent:
    """Send what ``take(size)`` gives (at most ``limit``), ``DELIVERY_CONCURRENCY`` at a time,
    until it gives less than asked: a batch is claimed only when its turn comes, so its lease
    is never spent waiting."""
    sent = Sent()
    size = app_settings.DELIVERY_CONCURRENCY
    while limit is None or limit > 0:
        batch = take(size if limit is None else min(limit, size))
        sent += send(batch)
        if len(batch) < size:  # Nothing more to take.
            break
        if limit is not None:
            limit -= len(batch)
    return sent


def deliver(deliveries: QuerySet[Delivery], claim_token: str = "") -> Sent:
    """Send those of ``deliveries`` that ``claim_token`` holds (a fan-out's task), or without
    one those due now (a retry's task)."""
    if claim_token:
        return send_in_batches(partial(take_held, deliveries.filter(claim=claim_token)))
    return send_in_batches(partial(claim, deliveries.filter(due())))


def deliver_event(event_id: int, claim_token: str = "") -> Sent:
    """:func:`deliver` of one event's deliveries."""
    return deliver(Delivery.objects.filter(event_id=event_id), claim_token)


def send_due(limit: int = 10_000) -> int:
    """The sweeper: send every due delivery, whatever happened to its message (at most
    ``limit`` a call); return how many were delivered."""
    return send_in_batches(partial(claim, Delivery.objects.filter(due())), limit).delivered
