"""A user's sessions, or an IdP session's, are found along an index of the user or of the IdP
session, even on tables without statistics (a fresh table; PostgreSQL without autovacuum;
SQLite, where nobody runs ``ANALYZE``), never along an index of the organization or of the
issuer alone, which would read every session of the organization (or issuer) for each logout
(``benchmarks/test_session_index.py``: on SQLite, a receiver's logout by ``sid`` read every
session of the issuer).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db.models import QuerySet

from logout_sso.hub.internal.outbox import live_sessions
from logout_sso.internal.session_index import matching_sessions
from logout_sso.models import Organization

IDP = "https://idp.example.com/"
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


def test_the_hub_reads_the_live_sessions_of_a_user_along_an_index_of_users(organization):
    sessions = live_sessions(IDP, sub="alice", sid="", organization_ids=[organization.pk])

    assert index_used(sessions) in {"logout_sso_session_sub", "logout_sso_session_live_org"}


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
    organization, scoped, names, indexes
):
    scope = [organization.pk] if scoped else None

    entries = matching_sessions(IDP, organization_ids=scope, **names)

    assert index_used(entries) in indexes
