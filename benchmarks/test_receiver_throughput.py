"""The receiver's throughput (issue 15, benchmark 4): logout tokens validated and sessions ended
per second, in process and through a production server.

Every token is valid, signed RS256 by an IdP whose JWKS a loopback server publishes (fetched
once, then read from the shared cache: django-redis, as production runs), and names by ``sid``
and ``sub`` a session that exists (the ``db`` session engine, indexed as at sign-in). Each
logout commits, as in production.

- In process, interleaved rounds of ``TOKENS`` tokens each: PyJWT's bare ``decode`` of the
  same kind of tokens (signature and claims: the floor), the receiver's validation alone,
  validation and ending (what the view does), the view through Django's test client
  (middleware, form parsing), and the view for sessions already gone.
- Through gunicorn (2 workers of 4 threads, ``benchmarks/wsgi_server.py``) loaded by a client
  process of its own (``benchmarks/http_load.py``) over ``CONCURRENCY`` kept-alive connections:
  ``HTTP_TOKENS`` pre-signed tokens; baseline in the same run, the same POSTs without a token
  (the ``400`` the view answers before any JWT or database work).

Sizes from the environment: ``BENCH_RECEIVER_TOKENS`` (default 400 a round, 5 rounds),
``BENCH_RECEIVER_HTTP_TOKENS`` (default 5,000), ``BENCH_RECEIVER_CONCURRENCY`` (default 8).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from benchmarks.hub_setup import percentile_95
from benchmarks.session_rows import indexed_sessions, text
from benchmarks.test_hub_end_to_end import kept_alive
from benchmarks.test_rp_costs import record
from benchmarks.wsgi_server import THREADS, WORKERS, running_wsgi_server
from logout_sso.models import LocalSession, LogoutEvent
from logout_sso.receiver.internal.logouts import end_sessions_of
from logout_sso.receiver.internal.tokens import validate
from tests.receiver_keys import AUDIENCE, RSA_KEY, KeyServer
from tests.services import database_name

TOKENS = int(os.environ.get("BENCH_RECEIVER_TOKENS", "400"))
ROUNDS = 5
HTTP_TOKENS = int(os.environ.get("BENCH_RECEIVER_HTTP_TOKENS", "5000"))
CONCURRENCY = int(os.environ.get("BENCH_RECEIVER_CONCURRENCY", "8"))
#: Tokens are signed before the runs: valid long enough for them all.
LIFETIME = 900
#: The in-process ways of handling tokens, each given tokens of its own in every round.
IN_PROCESS_WAYS = 5


class Tokens:
    """Valid logout tokens of ``server``, each naming by ``sid`` and ``sub`` session ``n`` of
    :func:`indexed_sessions` (``t<n>``, ``tsid<n>``), each with a ``jti`` of its own."""

    def __init__(self, server: KeyServer) -> None:
        self.server = server
        self.issued = 0

    def numbers(self, how_many: int) -> range:
        """The next ``how_many`` sessions, not named by any token yet."""
        self.issued += how_many
        return range(self.issued - how_many, self.issued)

    def sign(self, numbers: range) -> list[str]:
        now = int(time.time())
        return [
            self.server.token(
                {"sub": f"t{n}", "sid": f"tsid{n}", "iat": now, "exp": now + LIFETIME}
            )
            for n in numbers
        ]

    def next(self, how_many: int) -> list[str]:
        return self.sign(self.numbers(how_many))


def per_second(action: Callable[[str], Any], tokens: list[str]) -> float:
    started = time.perf_counter()
    for token in tokens:
        action(token)
    return len(tokens) / (time.perf_counter() - started)


def load_average() -> str:
    with open("/proc/loadavg") as loadavg:
        return " ".join(loadavg.read().split()[:3])


@pytest.fixture
def idp() -> Iterator[KeyServer]:
    server = KeyServer(RSA_KEY)
    yield server
    server.stop()


def receiver_settings(idp: KeyServer, redis_url: str) -> dict[str, Any]:
    """An application trusting the IdP ``idp``, its keys in the shared cache on Redis."""
    return {
        "LOGOUT_SSO": {
            "TRUSTED_ISSUERS": [
                {
                    "issuer": idp.issuer,
                    "audience": AUDIENCE,
                    "jwks_uri": idp.jwks_url,
                    "algorithms": ["RS256"],
                }
            ]
        },
        "CACHES": {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url}},
    }


def in_process(idp: KeyServer, tokens: Tokens) -> dict[str, Any]:
    """Tokens per second of each way of handling them, median of ``ROUNDS`` interleaved
    rounds."""
    public_key = RSA_KEY.private.public_key()
    client = Client()
    path = reverse("logout_sso:backchannel_logout")

    def bare_decode(token: str) -> None:
        jwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            audience=AUDIENCE,
            issuer=idp.issuer,
            options={"require": ["iss", "aud", "iat", "jti", "events"]},
        )

    def validate_and_end(token: str) -> None:
        assert end_sessions_of(validate(token)).sessions_ended == 1

    def view(token: str) -> None:
        body = urlencode({"logout_token": token})
        response = client.post(path, body, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 200, response.content

    ways: dict[str, Callable[[str], Any]] = {
        "PyJWT decode alone (baseline)": bare_decode,
        "validate (JWKS from the cache)": validate,
        "validate and end the session": validate_and_end,
        "the view (test client, middleware)": view,
    }
    gone = {"the view, session already gone": view}
    rates: dict[str, list[float]] = {name: [] for name in [*ways, *gone]}
    view(tokens.next(1)[0])  # The JWKS fetched and cached; the code paths warm.
    for _round in range(ROUNDS):
        for name, action in ways.items():
            rates[name].append(per_second(action, tokens.next(TOKENS)))
        numbers = tokens.numbers(TOKENS)
        for token in tokens.sign(numbers):
            validate_and_end(token)
        rates["the view, session already gone"].append(per_second(view, tokens.sign(numbers)))
    return {
        name: {"tokens_per_second": round(statistics.median(values)), "rounds": len(values)}
        for name, values in rates.items()
    }


def post_all(url: str, bodies: list[str]) -> dict[str, Any]:
    """What ``benchmarks/http_load.py`` measured, posting ``bodies`` to ``url``."""
    load = subprocess.run(
        [sys.executable, "-m", "benchmarks.http_load", url, str(CONCURRENCY)],
        input=json.dumps(bodies),
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(load.stdout)
    latencies = result["latencies_s"]
    return {
        "requests": len(latencies),
        "per_second": round(len(latencies) / result["elapsed_s"]),
        "latency_median_ms": round(statistics.median(latencies) * 1e3, 2),
        "latency_p95_ms": round(percentile_95(latencies) * 1e3, 2),
        "statuses": result["statuses"],
        "load_average": load_average(),
    }


@pytest.mark.django_db(transaction=True)
def test_receiver_throughput(
    settings, idp, make_organization, redis_url, redis_client, django_db_blocker, tmp_path
):
    overrides = receiver_settings(idp, redis_url)
    for name, setting in overrides.items():
        setattr(settings, name, setting)
    sessions = 1 + ROUNDS * TOKENS * IN_PROCESS_WAYS + HTTP_TOKENS
    indexed_sessions(
        sessions,
        make_organization("acme"),
        idp.issuer,
        prefix="throughput-session-",
        sub=text("t"),
        sid=text("tsid"),
    )
    tokens = Tokens(idp)
    results: dict[str, Any] = {"vendor": connection.vendor, "load_average": load_average()}
    results["in_process"] = in_process(idp, tokens)

    numbers = tokens.numbers(HTTP_TOKENS)
    bodies = [urlencode({"logout_token": token}) for token in tokens.sign(numbers)]
    url = reverse("logout_sso:backchannel_logout")
    with running_wsgi_server(
        redis_url,
        database_name(django_db_blocker),
        tmp_path,
        {**overrides, **kept_alive(django_db_blocker)},
    ) as server:
        post_all(f"{server}{url}", ["warm=up"] * 200)  # Both workers up, their connections open.
        no_token = post_all(f"{server}{url}", ["no=token"] * HTTP_TOKENS)
        valid = post_all(f"{server}{url}", bodies)
    assert valid["statuses"] == {"200": HTTP_TOKENS}, valid["statuses"]
    assert no_token["statuses"] == {"400": HTTP_TOKENS}, no_token["statuses"]
    assert not LocalSession.objects.filter(sub__in=[f"t{n}" for n in numbers]).exists()
    assert tokens.issued == sessions
    assert idp.jwks_fetches == 1
    results["gunicorn"] = {
        "workers": WORKERS,
        "threads": THREADS,
        "concurrency": CONCURRENCY,
        "valid tokens": valid,
        "POST without a token (baseline)": no_token,
        "logout_events": LogoutEvent.objects.count(),
    }
    print(f"\nReceiver throughput ({connection.vendor}), tokens per second")
    print("| in process | tokens/s |")
    print("| --- | --- |")
    for name, figures in results["in_process"].items():
        print(f"| {name} | {figures['tokens_per_second']:,} |")
    print("| through gunicorn | per second | median ms | p95 ms |")
    for name in ("valid tokens", "POST without a token (baseline)"):
        figures = results["gunicorn"][name]
        print(
            f"| {name} | {figures['per_second']:,} | {figures['latency_median_ms']} "
            f"| {figures['latency_p95_ms']} |"
        )
    record(f"receiver_throughput ({connection.vendor})", results)
