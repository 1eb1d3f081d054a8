"""Back-channel logout tokens as the metrics count them: accepted, or refused with a reason
code from a bounded list (never the message, which quotes the sender's input).

Tokens come from the key server on loopback (``server``, ``trust``: conftest.py) through the
test client to the view; the count is read at ``/metrics/`` as Prometheus would, before and
after (the counters are the test process's, shared by every test).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from django.test import Client

from logout_sso.receiver.internal.tokens import Refusal
from tests.metrics import scrape
from tests.receiver_keys import OTHER_RSA_KEY, KeyServer, make_token

URL = "/sso/backchannel-logout/"
FORM = "application/x-www-form-urlencoded"
NOBODY = {"sid": "sid-gone", "sub": "nobody"}
TOKENS = "logout_sso_backchannel_logout_tokens_total"


def post(token: str) -> int:
    response = Client().post(URL, urlencode({"logout_token": token}), content_type=FORM)
    return response.status_code


def counted(reader: Client, outcome: str, reason: str = "") -> float:
    return scrape(reader).value(TOKENS, outcome=outcome, reason=reason)


def test_every_reason_is_at_zero_before_its_first_refusal(metrics_reader):
    exposition = scrape(metrics_reader)

    assert exposition.value(TOKENS, outcome="accepted", reason="") >= 0
    for refusal in Refusal:
        assert exposition.value(TOKENS, outcome="refused", reason=refusal.value) >= 0


def test_an_accepted_token_then_its_replay(trust, server, metrics_reader):
    accepted, replays = (
        counted(metrics_reader, "accepted"),
        counted(metrics_reader, "refused", "replayed"),
    )
    token = server.token(NOBODY)

    assert post(token) == 200
    assert post(token) == 400

    assert counted(metrics_reader, "accepted") == accepted + 1
    assert counted(metrics_reader, "refused", "replayed") == replays + 1


def untrusted(server: KeyServer) -> str:
    return make_token(OTHER_RSA_KEY, NOBODY, issuer="https://stranger.example.com/")


def too_old(server: KeyServer) -> str:
    return server.token({**NOBODY, "iat": int(time.time()) - 3600, "exp": int(time.time()) + 60})


def wrong_audience(server: KeyServer) -> str:
    return server.token({**NOBODY, "aud": "someone-else"})


def unknown_kid(server: KeyServer) -> str:
    return server.token(NOBODY, {"kid": "nobody-knows-it"})


def signed_by_another_key(server: KeyServer) -> str:
    return server.token(NOBODY, key=OTHER_RSA_KEY)  # The same kid as the published key.


def with_nonce(server: KeyServer) -> str:
    return server.token({**NOBODY, "nonce": "n-1"})


def not_a_jwt(server: KeyServer) -> str:
    return "not.a.jwt"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (untrusted, Refusal.UNTRUSTED_ISSUER),
        (too_old, Refusal.EXPIRED),
        (wrong_audience, Refusal.WRONG_AUDIENCE),
        (unknown_kid, Refusal.UNKNOWN_KEY),
        (signed_by_another_key, Refusal.INVALID_SIGNATURE),
        (with_nonce, Refusal.INVALID_CLAIMS),
        (not_a_jwt, Refusal.MALFORMED),
    ],
)
def test_a_refused_token_is_counted_by_its_reason(
    trust, server, metrics_reader, make: Callable[[KeyServer], str], reason: Refusal
):
    before = counted(metrics_reader, "refused", reason.value)

    assert post(make(server)) == 400

    assert counted(metrics_reader, "refused", reason.value) == before + 1


def test_a_request_without_a_token_is_an_invalid_request(trust, metrics_reader):
    before = counted(metrics_reader, "refused", "invalid_request")

    response = Client().post(URL, {"logout_token": "x"}, content_type="application/json")

    assert response.status_code == 415
    assert counted(metrics_reader, "refused", "invalid_request") == before + 1


def test_keys_that_cannot_be_fetched_are_counted_apart(trust, server, metrics_reader):
    before = counted(metrics_reader, "refused", "keys_unavailable")
    server.stop()

    assert post(server.token(NOBODY)) == 503

    assert counted(metrics_reader, "refused", "keys_unavailable") == before + 1


def test_no_reason_quotes_the_senders_input(trust, server, metrics_reader):
    post(make_token(OTHER_RSA_KEY, NOBODY, issuer="https://evil.example.com/<script>"))

    reasons = {
        sample.labels["reason"]
        for sample in scrape(metrics_reader).families["logout_sso_backchannel_logout_tokens"]
    }
    assert reasons <= {"", *Refusal}
