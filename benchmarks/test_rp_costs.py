"""What the relying party costs: run with ``make benchmark`` (not part of ``make test``).

1. The short-lived-session middleware before the deadline, against the same view without it,
   measured in the same run: time added per request, database queries and IdP calls added.
2. One silent re-check against node-oidc-provider, against the same request before the
   deadline: calls made to the provider, time until the user has the page they asked for.

Results are printed and written to ``benchmarks/results.json``; docs/benchmarks.md records them
with the machine and the date. Nothing here asserts a timing.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import requests
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from logout_sso.internal.policies import get_policy
from logout_sso.models import Organization
from logout_sso.rp.internal.state import SignedIn
from logout_sso.rp.middleware import ShortLivedSessionMiddleware
from tests.oidc_provider import Browser
from tests.rp.test_interop_rp import (  # noqa: F401 - fixtures
    TTL,
    clock,
    idp_calls,
    me,
    provider,
    rp_one,
    rp_two_port,
    sign_in,
)

RESULTS = Path(__file__).with_name("results.json")
REQUESTS_PER_ROUND = 20_000
ROUNDS = 7
RECHECKS = 30


def record(name: str, values: dict[str, Any]) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[name] = {
        **values,
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"\n{name}: {json.dumps(values, indent=2)}")


def view(request: HttpRequest) -> HttpResponse:
    """The application's view: it reads the signed-in user's session, as real views do."""
    request.session.get("anything")
    return HttpResponse("ok")


@pytest.mark.django_db
def test_middleware_cost_before_the_deadline(settings, make_organization):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    organization = make_organization("acme")
    get_policy(organization.pk)  # As after the first request of any user of the organization.
    engine = __import__(settings.SESSION_ENGINE, fromlist=["SessionStore"])
    session = engine.SessionStore()
    SignedIn(
        organization_id=organization.pk,
        issuer="https://idp.example.com/",
        sub="u1",
        sid="s1",
        id_token="x.y.z",
        checked_at=time.time(),
    ).save(session)
    session.save()
    factory = RequestFactory()
    middleware = ShortLivedSessionMiddleware(view)

    def one_round(handler: Any) -> float:
        start = time.perf_counter()
        for _ in range(REQUESTS_PER_ROUND):
            request = factory.get("/page/")
            request.session = engine.SessionStore(session.session_key)
            handler(request)
        return (time.perf_counter() - start) / REQUESTS_PER_ROUND

    baseline, with_middleware = [], []
    for _ in range(ROUNDS):  # Interleaved, so both see the same machine noise.
        baseline.append(one_round(view))
        with_middleware.append(one_round(middleware))

    with (
        mock.patch.object(requests.Session, "request") as idp,
        CaptureQueriesContext(connection) as queries,
    ):
        one_round(middleware)

    base, added = statistics.median(baseline), statistics.median(with_middleware)
    record(
        "middleware_before_deadline",
        {
            "requests_per_round": REQUESTS_PER_ROUND,
            "rounds": ROUNDS,
            "baseline_us_per_request": round(base * 1e6, 2),
            "with_middleware_us_per_request": round(added * 1e6, 2),
            "added_us_per_request": round((added - base) * 1e6, 2),
            "ratio_to_baseline": round(added / base, 3),
            "database_queries": len(queries.captured_queries),
            "idp_calls": idp.call_count,
        },
    )


@pytest.mark.django_db(transaction=True)
def test_silent_recheck_cost(rp_one, provider, clock, idp_calls):  # noqa: F811
    organization = Organization.objects.get(slug="acme")
    with Browser() as browser:
        sign_in(browser, rp_one)
        before, recheck, calls_per_recheck = [], [], []
        for _ in range(RECHECKS):
            start = time.perf_counter()
            assert me(browser, rp_one)["authenticated"] is True
            before.append(time.perf_counter() - start)

            clock.advance(TTL + 1)
            idp_calls.clear()
            start = time.perf_counter()
            assert me(browser, rp_one)["authenticated"] is True
            recheck.append(time.perf_counter() - start)
            calls_per_recheck.append(list(idp_calls))
    assert organization.logout_policy.session_ttl == TTL
    base, checked = statistics.median(before), statistics.median(recheck)
    record(
        "silent_recheck_against_node_oidc_provider",
        {
            "rechecks": RECHECKS,
            "before_deadline_ms": round(base * 1e3, 2),
            "silent_recheck_ms": round(checked * 1e3, 2),
            "ratio_to_baseline": round(checked / base, 1),
            "server_side_idp_calls_per_recheck": sorted({len(c) for c in calls_per_recheck}),
            "server_side_idp_call_kinds": sorted({call for c in calls_per_recheck for call in c}),
            "browser_hops": "RP page -> RP login -> IdP authorize -> RP callback -> RP page",
        },
    )
