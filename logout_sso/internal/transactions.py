"""Transactions that another writer's lock may refuse, tried again until a deadline.

On SQLite one connection writes at a time: a transaction that cannot take the write lock within
the connection's busy timeout (``OPTIONS["timeout"]``) fails with ``database is locked``. On
PostgreSQL a transaction may be chosen as a deadlock's victim, fail to serialize, or wait longer
than ``lock_timeout``. None of these says anything about the work itself: the same transaction,
run again a moment later, succeeds. :func:`atomic_until` runs it again, with a short backoff,
while a deadline allows; any other error is raised at once.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: SQLite's primary result codes of a lock held by another connection (the extended codes,
#: e.g. SQLITE_BUSY_SNAPSHOT, keep them in their low byte).
SQLITE_LOCK_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
#: What SQLite says when its result code is not at hand.
SQLITE_LOCK_MESSAGES = ("database is locked", "database table is locked")
#: PostgreSQL's SQLSTATEs of a transaction refused for another's locks: serialization_failure,
#: deadlock_detected, lock_not_available (``lock_timeout``).
POSTGRESQL_LOCK_STATES = frozenset({"40001", "40P01", "55P03"})
#: The first pause before trying again; it doubles after each refusal, up to the longest.
FIRST_PAUSE_SECONDS = 0.05
LONGEST_PAUSE_SECONDS = 1.0


def is_lock_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a transaction refused because of another connection's locks, which
    the same transaction may get past later: SQLite's ``database is locked`` and ``database
    table is locked``, PostgreSQL's serialization failures, deadlocks and lock timeouts."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__  # The driver's own exception, which Django's wraps.
    if isinstance(cause, sqlite3.OperationalError):
        code = getattr(cause, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in SQLITE_LOCK_CODES
        return str(cause).startswith(SQLITE_LOCK_MESSAGES)
    state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    return state in POSTGRESQL_LOCK_STATES


def pause_before(attempt: int) -> float:
    """Seconds to wait before trying again after ``attempt`` refusals: doubling, with jitter
    so that refused writers do not all come back at the same moment."""
    ceiling = min(LONGEST_PAUSE_SECONDS, FIRST_PAUSE_SECONDS * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not security


def atomic_until(
    work: Callable[[], T], *, deadline: float, what: str, using: str = DEFAULT_DB_ALIAS
) -> T:
    """``work()`` in a transaction of its own, run again after a pause each time another
    connection's locks refuse it, as long as it can start before ``deadline`` (a
    :func:`time.monotonic` time); then the last refusal is raised. ``what`` names the work in
    the log. Within a transaction already open, the refusal belongs to that transaction (it
    is rolled back as a whole): ``work()`` runs once."""
    if connections[using].in_atomic_block:
        with transaction.atomic(using=using):
            return work()
    refusals = 0
    while True:
        try:
            with transaction.atomic(using=using):
                return work()
        except OperationalError as exc:
            if not is_lock_error(exc):
                raise
            refusals += 1
            pause = min(pause_before(refusals), deadline - time.monotonic())
            if pause <= 0:
                raise
            logger.debug("%s refused (%s): trying again in %.2f s", what, exc, pause)
        time.sleep(pause)
