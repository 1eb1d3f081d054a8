"""A user's sessions, or an IdP session's, are found along an index of the user or of the IdP
session, even on tables without statistics (a fresh table; PostgreSQL without autovacuum;
SQLite, where nobody runs ``ANALYZE``), never along an index of the organization or of the
issuer alone, which would read every session of the organization (or issuer) for each logout
(``benchmarks/test_session_index.py``: at 1,000,000 sessions, a hub's logout by ``sid`` took
0.5 s on PostgreSQL without statistics; on SQLite, a receiver's logout by ``sid`` read every
session of the issuer).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext

from logout_sso.hub.internal.outbox import holders, live_sessions
from logout_sso.internal.session_index import matching_sessions
from logout_sso.models import Application, LocalSession, Organization, TrackedSession

IDP = "https://idp.example.com/"
CROWD = 10_000
INDEX = re.compile(r"USING (?:COVERING )?INDEX (\w+)|Index (?:Only )?Scan (?:using|on) (\w+)")


def indexes_in(plan: str) -> list[str]:
    """The indexes a plan reads, in order."""
    return [first or second for first, second in INDEX.findall(plan)]


def index_used(rows: QuerySet[Any]) -> str:
    """The index the database reads ``rows`` along (fails when it reads the whole table)."""
    plan = rows.explain()
    found = indexes_in(plan)
    assert found, plan
    return found[0]


@pytest.fixture
def organization(db: None) -> Organization:
    return Organization.objects.create(slug="acme", name="Acme")


def plans(queries: list[dict[str, Any]]) -> list[str]:
    """The plan of each ``SELECT`` among ``queries``, as one line each."""
    explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    found = []
    with connection.cursor() as cursor:
        for query in queries:
            if query["sql"].startswith("SELECT"):
                cursor.execute(explain + query["sql"])
                found.append(" | ".join(str(row[-1]) for row in cursor.fetchall()))
    return found


@pytest.fixture
def crowded(organization: Organization) -> None:
    """10,000 live tracked sessions in the organization: 3,334 users, each in 3 applications
    with one IdP session (and no statistics, as in a fresh table)."""
    apps = [Application.objects.create(name=f"app{n}", client_id=f"app{n}") for n in range(3)]
    TrackedSession.objects.bulk_create(
        (
            TrackedSession(
                application=apps[n % 3],
                organization=organization,
                issuer=IDP,
                sub=f"u{n // 3}",
                sid=f"s{n // 3}",
                session_id=f"k{n}",
            )
            for n in range(CROWD)
        ),
        batch_size=1000,
    )


def test_a_hub_logout_by_sid_reads_its_sessions_along_the_sid_index(organization, crowded):
    with CaptureQueriesContext(connection) as executed:
        sessions = holders(live_sessions(IDP, sub="", sid="s7", organization_ids=[organization.pk]))
    assert len(sessions) == 3

    [read] = [indexes_in(plan) for plan in plans(executed.captured_queries)]
    assert read[0] == "logout_sso_session_sid", read


def test_the_hub_reads_the_live_sessions_of_a_user_along_an_index_of_users(organization):
    sessions = live_sessions(IDP, sub="alice", sid="", organization_ids=[organization.pk])

    assert index_used(sessions) in {"logout_sso_session_sub", "logout_sso_session_live_org"}


@pytest.fixture
def indexed(organization: Organization) -> None:
    """10,000 sessions in the session index: 3,334 users, each on three devices (three IdP
    sessions). On an emptier table PostgreSQL rates every index alike (a row at most) and may
    take any."""
    LocalSession.objects.bulk_create(
        (
            LocalSession(
                session_key=f"k{n}",
                issuer=IDP,
                sub=f"u{n // 3}",
                sid=f"s{n}",
                organization=organization,
            )
            for n in range(CROWD)
        ),
        batch_size=1000,
    )


@pytest.mark.parametrize("scoped", [False, True], ids=["any organization", "one organization"])
@pytest.mark.parametrize(
    ("names", "indexes"),
    [
        ({"sid": "s1"}, {"logout_sso_local_sid"}),
        ({"sub": "alice"}, {"logout_sso_local_sub"}),
        ({"sid": "s1", "sub": "alice"}, {"logout_sso_local_sid", "logout_sso_local_sub"}),
    ],
    ids=["sid", "sub", "sid and sub"],
)
def test_the_session_index_is_read_along_the_index_of_the_sid_or_the_user(
    organization, indexed, scoped, names, indexes
):
    scope = [organization.pk] if scoped else None

    entries = matching_sessions(IDP, organization_ids=scope, **names)

    assert index_used(entries) in indexes
