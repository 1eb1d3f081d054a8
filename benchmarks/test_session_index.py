"""Ending one user's sessions at 10,000 and at 1,000,000 indexed sessions (issue 15, benchmark 3).

Two indexes find a user's sessions, and each is measured as the product uses it:

- the receiver's session index (``LocalSession``, by issuer and ``sub``, or issuer and ``sid``):
  what a valid logout token does (``end_sessions_of``: the index read and locked, the logout
  recorded, each session ended in its store, the entries dropped). The sessions are in the
  database (``db`` engine, ``django_session``) or in Redis (``cache`` engine on django-redis),
  which holds as many sessions as the index; Redis holds no index of its own;
- the hub's registry (``TrackedSession``, by ``sub`` or ``sid``), through an application's
  ``POST /sso/api/logouts/`` (the user's tracked sessions read and ended, the deliveries
  written; the hub's own sessions of that user looked up in the session index too).

Each user has 3 sessions: in the receiver on three devices (three IdP sessions: a ``sub`` ends
3, a ``sid`` 1), in the hub in three applications (one IdP session: a ``sub`` or a ``sid`` ends
3). One organization and one issuer hold them all (the worst case for an index that starts
with either). Each size is loaded in one statement per table (``INSERT ... SELECT``) and rolled
back afterwards; the measures run in the test's transaction (no commit). Per size, ``RUNS``
rounds, each ending another user's sessions in every variant in turn; on each database without
statistics (a fresh table: this machine's PostgreSQL runs without autovacuum) and after
``ANALYZE`` (production, with autovacuum). Sizes from the environment: ``BENCH_INDEX_SIZES``
(default ``10000,1000000``), ``BENCH_INDEX_RUNS`` (default 21).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
from django.core.cache import caches
from django.db import connection, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from benchmarks.hub_setup import IDP, KEYS, applications, percentile_95
from benchmarks.session_rows import (
    SESSION_DATA,
    indexed_sessions,
    insert_series,
    session_key,
    text,
    value,
)
from benchmarks.test_rp_costs import record
from logout_sso.models import Application, Organization, TrackedSession
from logout_sso.receiver.internal.logouts import end_sessions_of
from logout_sso.receiver.internal.tokens import LogoutToken

SIZES = [int(size) for size in os.environ.get("BENCH_INDEX_SIZES", "10000,1000000").split(",")]
RUNS = int(os.environ.get("BENCH_INDEX_RUNS", "21"))
SESSIONS_PER_USER = 3
SESSION_KEY_PREFIX = "bench-session-key-"
REDIS_BATCH = 10_000
#: Work that does not depend on the sizes, measured with the others: how much the machine's
#: load changed between the two sizes (its ratio), to tell it from what the sizes do.
REFERENCE = "reference: 10 queries on a one-row table"
REFERENCE_QUERIES = 10
#: The cache session engine on Redis, under an alias of its own.
SESSIONS_IN_REDIS = {
    "SESSION_ENGINE": "django.contrib.sessions.backends.cache",
    "SESSION_CACHE_ALIAS": "sessions",
}
SESSIONS_IN_DATABASE = {"SESSION_ENGINE": "django.contrib.sessions.backends.db"}
HUB = {
    "HUB_ISSUER": "https://hub.example.com/",
    "HUB_SIGNING_KEY": KEYS["ES256"],
    "DELIVERY_ALLOW_PRIVATE_ADDRESSES": True,
    "LOGOUT_REPORTS_PER_MINUTE": 100_000_000,
}


@dataclass(frozen=True)
class Variant:
    """One way of ending a user's sessions: ``end(user)`` ends them (asserting how many)."""

    name: str
    settings: dict[str, Any]
    end: Callable[[int], None]
    times: dict[str, list[float]] = field(default_factory=dict)


def populate(
    size: int, organization: Organization, apps: list[Application], redis_url: str
) -> dict[str, float]:
    """``size`` sessions in the receiver's index, the database's session table and Redis, and
    ``size`` tracked sessions in the hub; how long each store took to load (s)."""
    user = f"i / {SESSIONS_PER_USER}"
    loaded: dict[str, float] = {}
    started = time.perf_counter()
    indexed_sessions(
        size,
        organization,
        IDP,
        prefix=SESSION_KEY_PREFIX,
        sub=text("r", user),
        sid=text("rsid"),  # One IdP session per device.
    )
    loaded["session_index_and_django_session_s"] = time.perf_counter() - started
    started = time.perf_counter()
    application_of_row = "CASE i %% 3 WHEN 0 THEN %s WHEN 1 THEN %s ELSE %s END"
    insert_series(
        TrackedSession,
        size,
        {
            "application": (application_of_row, [app.pk for app in apps]),
            "organization": value(organization.pk),
            "issuer": value(IDP),
            "sub": text("h", user),
            "sid": text("hsid", user),  # One IdP session, three applications.
            "email": value(""),
            "session_id": text("s"),
            "created_at": value(connection.ops.adapt_datetimefield_value(timezone.now())),
            "end_reason": value(""),
        },
    )
    loaded["tracked_sessions_s"] = time.perf_counter() - started
    started = time.perf_counter()
    fill_redis(size, redis_url)
    loaded["redis_s"] = time.perf_counter() - started
    if connection.vendor == "postgresql":
        # What production's data is: long written out. Without it, the first reads evict the
        # load's dirty buffers, each after a flush of the write-ahead log.
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    return {name: round(seconds, 1) for name, seconds in loaded.items()}


def fill_redis(size: int, redis_url: str) -> None:
    """The ``size`` sessions in Redis, as the cache engine on django-redis stores them."""
    cache: Any = caches[SESSIONS_IN_REDIS["SESSION_CACHE_ALIAS"]]
    client = redis.Redis.from_url(redis_url)
    encoded = cache.client.encode(SESSION_DATA)
    for start in range(0, size, REDIS_BATCH):
        pipeline = client.pipeline(transaction=False)
        for i in range(start, min(size, start + REDIS_BATCH)):
            key = "django.contrib.sessions.cache" + session_key(SESSION_KEY_PREFIX, i)
            pipeline.set(str(cache.make_key(key)), encoded, ex=86_400)
        pipeline.execute()


def spread(users: int, count: int) -> Iterator[int]:
    """``count`` distinct users out of ``users``, evenly spread over the table."""
    step = users / count
    return (int(step * (n + 0.5)) for n in range(count))


def receiver_ends(*, sub: bool, sid: bool, expected: int) -> Callable[[int], None]:
    """A valid logout token's effect, naming ``sub`` r<user> and/or the ``sid`` of its first
    session."""

    def end(user: int) -> None:
        token = LogoutToken(
            issuer=IDP,
            sub=f"r{user}" if sub else "",
            sid=f"rsid{user * SESSIONS_PER_USER}" if sid else "",
            token_id=uuid.uuid4().hex,
        )
        assert end_sessions_of(token).sessions_ended == expected

    return end


def hub_ends(client: Client, claim: str) -> Callable[[int], None]:
    """An application's ``POST /sso/api/logouts/`` naming h<user> by ``sub`` or ``sid``."""

    def end(user: int) -> None:
        body = {"sub": f"h{user}"} if claim == "sub" else {"sid": f"hsid{user}"}
        response = client.post("/sso/api/logouts/", body, content_type="application/json")
        assert response.status_code == 202, response.content
        assert response.json()["deliveries"] == SESSIONS_PER_USER

    return end


def plans(queries: list[dict[str, Any]]) -> list[str]:
    """The scans of the plan of each ``SELECT`` among ``queries`` (its first words, then
    the plan's scan lines)."""
    explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    found = []
    with connection.cursor() as cursor:
        for query in queries:
            sql = query["sql"]
            if not sql.startswith(("SELECT", "UPDATE", "DELETE")):
                continue
            cursor.execute(explain + sql)
            lines = [str(row[-1]).strip() for row in cursor.fetchall()]
            scans = [line for line in lines if "Scan" in line or "SCAN" in line or "SEARCH" in line]
            found.append(
                f"{float(query['time']) * 1e3:.2f} ms {sql[:70]}... -> {' | '.join(scans)}"
            )
    return found


@contextmanager
def rolled_back() -> Iterator[None]:
    """What happens within is undone on leaving (a savepoint of the test's transaction)."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def measure(variants: list[Variant], users: Iterator[int], mode: str) -> dict[str, Any]:
    """A warm-up of each variant, ``RUNS`` interleaved rounds of them all, then one more run
    of each with its queries counted and explained."""
    for variant in variants:
        with override_settings(**variant.settings):
            variant.end(next(users))
    for _round in range(RUNS):
        for variant in variants:
            user = next(users)
            with override_settings(**variant.settings):
                started = time.perf_counter()
                variant.end(user)
                variant.times.setdefault(mode, []).append(time.perf_counter() - started)
    queries = {}
    for variant in variants:
        with (
            override_settings(**variant.settings),
            CaptureQueriesContext(connection) as captured,
        ):
            variant.end(next(users))
        queries[variant.name] = {
            "queries": len(captured.captured_queries),
            "plans": plans(captured.captured_queries),
        }
    return queries


def figures(times: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(times) * 1e3, 2),
        "p95_ms": round(percentile_95(times) * 1e3, 2),
    }


def load_average() -> str:
    with open("/proc/loadavg") as loadavg:
        return " ".join(loadavg.read().split()[:3])


@pytest.mark.django_db
def test_ending_one_users_sessions_at_scale(settings, make_organization, redis_url, redis_client):
    settings.CACHES = {
        **settings.CACHES,
        "sessions": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url},
    }
    settings.OIDC_OP_ISSUER = IDP
    organization = make_organization("big")
    apps = applications(organization, [1, 2, 3], "index")
    reporter, credential = Application.objects.create_with_credential(
        name="reporter", client_id="reporter"
    )
    reporter.organizations.add(organization)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {credential}")
    receiver: dict[str, Any] = {"LOGOUT_SSO": {}}

    def reference(user: int) -> None:
        for _query in range(REFERENCE_QUERIES):
            assert Organization.objects.filter(pk=organization.pk).exists()

    variants = [
        Variant(REFERENCE, {}, reference),
        Variant(
            "receiver, sub (3 sessions), sessions in the database",
            {**receiver, **SESSIONS_IN_DATABASE},
            receiver_ends(sub=True, sid=False, expected=3),
        ),
        Variant(
            "receiver, sid and sub (1 session), sessions in the database",
            {**receiver, **SESSIONS_IN_DATABASE},
            receiver_ends(sub=True, sid=True, expected=1),
        ),
        Variant(
            "receiver, sid (1 session), sessions in the database",
            {**receiver, **SESSIONS_IN_DATABASE},
            receiver_ends(sub=False, sid=True, expected=1),
        ),
        Variant(
            "receiver, sub (3 sessions), sessions in Redis",
            {**receiver, **SESSIONS_IN_REDIS},
            receiver_ends(sub=True, sid=False, expected=3),
        ),
        Variant("hub API, sub (3 sessions)", {"LOGOUT_SSO": HUB}, hub_ends(client, "sub")),
        Variant("hub API, sid (3 sessions)", {"LOGOUT_SSO": HUB}, hub_ends(client, "sid")),
    ]
    modes = ["no statistics", "analyzed"]
    per_size: dict[str, Any] = {}
    for size in SIZES:
        # Fresh tables at each size: PostgreSQL would keep the statistics of the last ANALYZE.
        with rolled_back():
            loaded = populate(size, organization, apps, redis_url)
            users = spread(size // SESSIONS_PER_USER, len(modes) * len(variants) * (RUNS + 2))
            per_size[str(size)] = {"load": loaded, "load_average": load_average()}
            for mode in modes:
                if mode == "analyzed":
                    with connection.cursor() as cursor:
                        cursor.execute("ANALYZE")
                per_size[str(size)][mode] = measure(variants, users, f"{size} {mode}")
        redis_client.flushdb()

    results: dict[str, Any] = {
        "vendor": connection.vendor,
        "sizes": SIZES,
        "runs": RUNS,
        "per_size": per_size,
    }
    smallest, largest = SIZES[0], SIZES[-1]
    print(f"\nEnding one user's sessions ({connection.vendor}), median / p95 ms")
    print(f"| variant | statistics | {smallest:,} | {largest:,} | ratio | ratio / reference's |")
    print("| --- | --- | --- | --- | --- | --- |")
    for mode in modes:
        drift = statistics.median(variants[0].times[f"{largest} {mode}"]) / statistics.median(
            variants[0].times[f"{smallest} {mode}"]
        )
        for variant in variants:
            small = figures(variant.times[f"{smallest} {mode}"])
            large = figures(variant.times[f"{largest} {mode}"])
            ratio = large["median_ms"] / small["median_ms"]
            results[f"{variant.name}, {mode}"] = {
                str(smallest): small,
                str(largest): large,
                "ratio": round(ratio, 2),
                "ratio_to_reference_ratio": round(ratio / drift, 2),
            }
            print(
                f"| {variant.name} | {mode} | {small['median_ms']} / {small['p95_ms']} "
                f"| {large['median_ms']} / {large['p95_ms']} | {ratio:.2f} "
                f"| {ratio / drift:.2f} |"
            )
    record(f"session_index ({connection.vendor})", results)
