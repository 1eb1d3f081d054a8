"""The back-channel logout receiver, ``POST /sso/backchannel-logout/``, as an IdP sees it.

Logout tokens come from a real key server on loopback (``tests/receiver_keys.py``) and go through
the test client to the view; each test asserts what the sender sees (status, JSON error) and
what the users see (still signed in or not). The conformance table follows the OpenID
Foundation's relying-party back-channel logout tests (plan
``oidcc-client-back-channel-logout-rp-basic``) and OpenID Connect Back-Channel Logout 1.0,
sections 2.4-2.8.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.test import Client

from logout_sso.internal import discovery
from logout_sso.models import LocalSession, LogoutEvent, Organization
from logout_sso.signals import logout_recorded, sessions_terminated
from tests.receiver_keys import (
    AUDIENCE,
    DELETE,
    EC_KEY,
    ED25519_KEY,
    EVENT,
    MAX_AGE,
    OTHER_RSA_KEY,
    ROTATED_RSA_KEY,
    RSA_KEY,
    RSA_KEY_WITHOUT_ALG,
    SKEW,
    KeyServer,
    b64url,
    b64url_decode,
    ec_key,
    hmac_token,
    make_token,
    unsigned_token,
)
from tests.signing_in import is_signed_in, sign_in_through_idp

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

URL = "/sso/backchannel-logout/"
FORM = "application/x-www-form-urlencoded"
OTHER_ISSUER = "https://other-idp.example.com/"

Tokens = Callable[[KeyServer], list[str]]


# --- fixtures and helpers (``server`` and ``trust``: tests/receiver/conftest.py) ----------------


def sign_in(
    username: str, organization: Organization, *, issuer: str, sub: str, sid: str
) -> Client:
    """A browser signed in as if through the IdP: SignedIn in its session, the session indexed."""
    client = Client()
    sign_in_through_idp(client, organization, username=username, issuer=issuer, sub=sub, sid=sid)
    return client


@dataclass
class Users:
    alice: Client  # user A, sub "alice", sid "sid-a"
    alice_phone: Client  # user A's second session, sid "sid-a2"
    bob: Client  # user B, sub "bob", sid "sid-b"

    def all(self) -> list[Client]:
        return [self.alice, self.alice_phone, self.bob]


@pytest.fixture
def users(server: KeyServer, acme: Organization) -> Users:
    return Users(
        alice=sign_in("alice", acme, issuer=server.issuer, sub="alice", sid="sid-a"),
        alice_phone=sign_in("alice", acme, issuer=server.issuer, sub="alice", sid="sid-a2"),
        bob=sign_in("bob", acme, issuer=server.issuer, sub="bob", sid="sid-b"),
    )


def post(token: str, client: Client | None = None, **extra: str) -> Response:
    """The IdP's POST: form-encoded, ``logout_token`` and any extra parameters."""
    client = client or Client()
    return client.post(URL, urlencode({"logout_token": token, **extra}), content_type=FORM)


def assert_accepted(response: Response) -> None:
    assert response.status_code == 200, response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert "no-cache" in response["Cache-Control"]


def assert_error(response: Response, status: int, error: str = "invalid_request") -> None:
    assert response.status_code == status, response.content.decode()
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    assert isinstance(body["error_description"], str)
    assert body["error_description"]


def assert_refused(response: Response) -> None:
    assert_error(response, 400)


def now() -> int:
    return int(time.time())


def tamper(token: str, **claims: Any) -> str:
    """The token with claims changed after signing (the signature no longer matches)."""
    header, payload, signature = token.split(".")
    changed = {**json.loads(b64url_decode(payload)), **claims}
    return f"{header}.{b64url(json.dumps(changed).encode())}.{signature}"


def flip_signature_byte(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(b64url_decode(signature))
    raw[len(raw) // 2] ^= 0x01
    return f"{header}.{payload}.{b64url(bytes(raw))}"


# --- the conformance table ----------------------------------------------------------------------

NOBODY = {"sid": "sid-gone", "sub": "nobody"}


def one(**claims: Any) -> Tokens:
    """A token signed by the RSA key with these claim overrides; a callable value is called
    when the test runs (times are relative to then, not to collection)."""
    return lambda s: [s.token({k: v() if callable(v) else v for k, v in claims.items()})]


def ago(seconds: int) -> Callable[[], int]:
    return lambda: now() - seconds


def ahead(seconds: int) -> Callable[[], int]:
    return lambda: now() + seconds


def replayed(s: KeyServer) -> list[str]:
    token = s.token(NOBODY)
    return [token, token]


def same_jti_signed_again(s: KeyServer) -> list[str]:
    return [s.token({**NOBODY, "jti": "jti-1"}), s.token({"jti": "jti-1", "iat": now() - 1})]


ACCEPTED: list[Any] = [
    pytest.param(one(), id="valid-no-typ-extra-claim"),
    pytest.param(lambda s: [s.token(header_overrides={"typ": "logout+jwt"})], id="typ-logout+jwt"),
    pytest.param(lambda s: [s.token(header_overrides={"typ": "JWT"})], id="typ-JWT"),
    pytest.param(one(aud=["other-client", AUDIENCE]), id="aud-list-containing-the-client"),
    pytest.param(one(sub=DELETE), id="sid-only"),
    pytest.param(one(iat=ahead(SKEW // 2)), id="iat-ahead-within-skew"),
    pytest.param(one(iat=ago(100), exp=ago(SKEW // 2)), id="exp-behind-within-skew"),
    pytest.param(one(events={EVENT: {"reason": "x"}}), id="event-value-non-empty-object"),
    pytest.param(lambda s: [s.token(key=RSA_KEY_WITHOUT_ALG)], id="rsa-key-without-alg"),
    pytest.param(lambda s: [s.token(key=EC_KEY)], id="es256-key-without-alg"),
    pytest.param(lambda s: [s.token(key=ED25519_KEY)], id="eddsa-key-without-alg"),
    pytest.param(
        lambda s: [s.token(key=EC_KEY, header_overrides={"kid": DELETE})],
        id="no-kid-one-key-of-its-type",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize("tokens", ACCEPTED)
def test_a_valid_token_ends_that_sid_and_no_other_session(trust, server, users, tokens):
    response = post(tokens(server)[0], extra_parameter="ignored")

    assert_accepted(response)
    assert not is_signed_in(users.alice)
    assert is_signed_in(users.alice_phone)
    assert is_signed_in(users.bob)


REFUSED: list[Any] = [
    pytest.param(lambda s: [s.token(key=OTHER_RSA_KEY)], id="bad-signature-other-key-same-kid"),
    pytest.param(lambda s: [flip_signature_byte(s.token())], id="bad-signature-flipped-byte"),
    pytest.param(lambda s: [tamper(s.token(), sid="sid-b", sub="bob")], id="tampered-payload"),
    pytest.param(one(iss="https://evil.example.com"), id="wrong-iss"),
    pytest.param(lambda s: [s.token({"iss": s.issuer + "/"})], id="iss-trailing-slash"),
    pytest.param(one(iss=DELETE), id="missing-iss"),
    pytest.param(lambda s: [s.token({"iss": [s.issuer]})], id="iss-a-list"),
    pytest.param(lambda s: [s.token({"iss": {"iss": s.issuer}})], id="iss-an-object"),
    pytest.param(one(aud="other-client"), id="wrong-aud"),
    pytest.param(one(aud=["other-client"]), id="wrong-aud-list"),
    pytest.param(one(aud=DELETE), id="missing-aud"),
    pytest.param(one(aud={"aud": AUDIENCE}), id="aud-an-object"),
    pytest.param(one(iat=DELETE), id="missing-iat"),
    pytest.param(one(iat=lambda: str(now())), id="iat-not-a-number"),
    pytest.param(one(iat=ahead(SKEW + 240), exp=ahead(SKEW + 360)), id="iat-in-the-future"),
    pytest.param(one(iat=ago(MAX_AGE + 60), exp=ahead(60)), id="iat-older-than-max-age"),
    pytest.param(one(iat=ago(200), exp=ago(SKEW + 60)), id="expired"),
    pytest.param(one(exp=lambda: str(now() + 120)), id="exp-not-a-number"),
    pytest.param(one(events=DELETE), id="missing-events"),
    pytest.param(
        one(events={"http://schemas.openid.net/event/other": {}}), id="events-without-the-member"
    ),
    pytest.param(one(events={EVENT: "yes"}), id="event-value-a-string"),
    pytest.param(one(events={EVENT: []}), id="event-value-a-list"),
    pytest.param(one(events={EVENT: None}), id="event-value-null"),
    pytest.param(one(events=[EVENT]), id="events-a-list"),
    pytest.param(one(sid=DELETE, sub=DELETE), id="sid-and-sub-missing"),
    pytest.param(one(sid="", sub=""), id="sid-and-sub-empty"),
    pytest.param(one(sub=42), id="sub-not-a-string"),
    pytest.param(one(sid=["sid-a"], sub=DELETE), id="sid-not-a-string"),
    pytest.param(one(sid="s" * 256), id="sid-longer-than-any-session"),
    pytest.param(one(sid=DELETE, sub="u" * 256), id="sub-longer-than-any-session"),
    pytest.param(one(nonce="n-0S6_WzA2Mj"), id="with-nonce"),
    pytest.param(
        one(nonce="n-0S6_WzA2Mj", events=DELETE, azp=AUDIENCE, auth_time=ago(5)), id="id-token"
    ),
    pytest.param(one(jti=DELETE), id="missing-jti"),
    pytest.param(one(jti=""), id="empty-jti"),
    pytest.param(one(jti=["jti"]), id="jti-not-a-string"),
    pytest.param(lambda s: [unsigned_token(issuer=s.issuer)], id="alg-none"),
    pytest.param(lambda s: [unsigned_token(issuer=s.issuer, alg="None")], id="alg-None"),
    pytest.param(
        lambda s: [hmac_token(RSA_KEY.public_pem(), issuer=s.issuer)],
        id="hs256-signed-with-the-public-key",
    ),
    pytest.param(
        lambda s: [s.token(header_overrides={"kid": "forged"}, key=OTHER_RSA_KEY)],
        id="unknown-kid",
    ),
    pytest.param(
        lambda s: [s.token(header_overrides={"kid": EC_KEY.kid})], id="kid-of-a-key-of-another-type"
    ),
    pytest.param(
        lambda s: [s.token(header_overrides={"crit": ["urn:example:unknown"]})],
        id="crit-unknown-extension",
    ),
    pytest.param(lambda s: ["not-a-jwt"], id="not-a-jwt"),
    pytest.param(replayed, id="replayed-jti"),
    pytest.param(same_jti_signed_again, id="replayed-jti-in-a-new-token"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("tokens", REFUSED)
def test_an_invalid_token_is_refused_and_no_session_ends(trust, server, users, tokens):
    *earlier, token = tokens(server)
    for sent_before in earlier:  # the first delivery of a replayed token (naming nobody)
        assert_accepted(post(sent_before))

    response = post(token)

    assert_refused(response)
    assert all(is_signed_in(client) for client in users.all())
    assert LocalSession.objects.count() == 3


@pytest.mark.django_db
def test_wrong_alg_a_valid_signature_by_another_key_of_the_jwks_is_refused(trust, server, users):
    trust(algorithms=("RS256",))

    response = post(server.token(key=EC_KEY))

    assert_refused(response)
    assert "ES256" in response.json()["error_description"]
    assert all(is_signed_in(client) for client in users.all())


@pytest.mark.django_db
def test_a_token_whose_effect_failed_is_acted_on_when_sent_again(trust, server, users, monkeypatch):
    """The IdP retransmits after an error (Back-Channel Logout 2.5): that is not a replay."""
    token = server.token()
    with monkeypatch.context() as failing:
        failing.setattr(
            "logout_sso.internal.session_index._session_store", lambda key: 1 / 0, raising=True
        )
        failed = post(token, Client(raise_request_exception=False))
    assert failed.status_code == 500
    assert is_signed_in(users.alice)

    response = post(token)

    assert_accepted(response)
    assert not is_signed_in(users.alice)
    assert LogoutEvent.objects.get().sessions_ended == 1


@pytest.mark.django_db
def test_a_token_whose_listener_failed_is_acted_on_when_sent_again(trust, server, users):
    """When a listener (the hub's fan-out is one) fails, nothing of the token is recorded."""
    token = server.token()

    def fail(**kwargs: Any) -> None:
        raise RuntimeError("the broker is down")

    logout_recorded.connect(fail, dispatch_uid="test-failing-listener")
    try:
        failed = post(token, Client(raise_request_exception=False))
    finally:
        logout_recorded.disconnect(dispatch_uid="test-failing-listener")
    assert failed.status_code == 500
    assert not LogoutEvent.objects.exists()

    assert_accepted(post(token))
    assert LogoutEvent.objects.count() == 1


@pytest.mark.django_db
def test_a_token_replayed_after_it_ended_the_session_is_refused(trust, server, users):
    token = server.token()
    assert_accepted(post(token))

    response = post(token)

    assert_refused(response)
    assert "replayed" in response.json()["error_description"]
    assert is_signed_in(users.alice_phone)
    assert is_signed_in(users.bob)


# --- which sessions end -------------------------------------------------------------------------


@pytest.mark.django_db
def test_sub_only_ends_every_session_of_that_user_at_that_issuer(trust, server, users, acme):
    elsewhere = sign_in("alice", acme, issuer=OTHER_ISSUER, sub="alice", sid="sid-a")

    assert_accepted(post(server.token({"sid": DELETE})))

    assert not is_signed_in(users.alice)
    assert not is_signed_in(users.alice_phone)
    assert is_signed_in(users.bob)
    assert is_signed_in(elsewhere)


@pytest.mark.django_db
def test_sid_and_sub_end_only_that_sid(trust, server, users):
    assert_accepted(post(server.token({"sid": "sid-a2", "sub": "alice"})))

    assert is_signed_in(users.alice)
    assert not is_signed_in(users.alice_phone)
    assert is_signed_in(users.bob)


@pytest.mark.django_db
def test_a_sid_of_another_user_ends_nothing(trust, server, users):
    assert_accepted(post(server.token({"sid": "sid-a", "sub": "bob"})))

    assert all(is_signed_in(client) for client in users.all())
    assert LogoutEvent.objects.get().sessions_ended == 0


@pytest.mark.django_db
def test_a_token_for_sessions_that_no_longer_exist_is_still_a_200(trust, server, users):
    assert_accepted(post(server.token({"sid": DELETE, "sub": "bob"})))

    response = post(server.token({"sid": DELETE, "sub": "bob"}))

    assert_accepted(response)
    assert sorted(event.sessions_ended for event in LogoutEvent.objects.all()) == [0, 1]
    assert is_signed_in(users.alice)


@pytest.mark.django_db
def test_a_sid_whose_session_ended_locally_is_still_a_200(trust, server, users):
    users.alice.logout()

    assert_accepted(post(server.token()))

    assert is_signed_in(users.alice_phone)
    assert is_signed_in(users.bob)


# --- algorithms and keys ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("key", [EC_KEY, ED25519_KEY], ids=["ES256", "EdDSA"])
def test_an_issuer_allowing_only_rs256_refuses_other_algorithms(trust, server, users, key):
    trust(algorithms=("RS256",))

    assert_refused(post(server.token(key=key)))
    assert is_signed_in(users.alice)


@pytest.mark.django_db
@pytest.mark.parametrize("key", [EC_KEY, ED25519_KEY], ids=["ES256", "EdDSA"])
def test_an_issuer_allowing_another_algorithm_accepts_it_only(trust, server, users, key):
    trust(algorithms=(key.alg,))

    assert_refused(post(server.token()))  # RS256 is not allowed any more
    assert is_signed_in(users.alice)
    assert_accepted(post(server.token(key=key)))
    assert not is_signed_in(users.alice)


@pytest.mark.django_db
def test_a_token_signed_by_another_trusted_issuers_key_is_refused(settings, users, acme):
    ours, theirs = KeyServer(RSA_KEY), KeyServer(OTHER_RSA_KEY)  # both publish kid "rsa-1"
    try:
        settings.LOGOUT_SSO = {
            "TRUSTED_ISSUERS": [
                {"issuer": s.issuer, "audience": AUDIENCE, "jwks_uri": s.jwks_url}
                for s in (ours, theirs)
            ]
        }
        alice = sign_in("alice", acme, issuer=ours.issuer, sub="alice", sid="sid-a")

        response = post(make_token(OTHER_RSA_KEY, issuer=ours.issuer))

        assert_refused(response)
        assert is_signed_in(alice)
        assert_accepted(post(make_token(RSA_KEY, issuer=ours.issuer)))
        assert not is_signed_in(alice)
    finally:
        ours.stop()
        theirs.stop()


# --- the HTTP request ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_get_is_405_with_allow_post(trust):
    response = Client().get(URL)

    assert_error(response, 405)
    assert response["Allow"] == "POST"


@pytest.mark.django_db
def test_a_json_body_is_415(trust, server, users):
    response = Client().post(URL, {"logout_token": server.token()}, content_type="application/json")

    assert_error(response, 415)
    assert is_signed_in(users.alice)


@pytest.mark.django_db
def test_a_multipart_body_is_415(trust, server, users):
    response = Client().post(URL, {"logout_token": server.token()})  # the test client's default

    assert_error(response, 415)
    assert is_signed_in(users.alice)


@pytest.mark.django_db
def test_a_form_content_type_with_a_charset_is_accepted(trust, server, users):
    response = Client().post(
        URL, urlencode({"logout_token": server.token()}), content_type=f"{FORM}; charset=UTF-8"
    )

    assert_accepted(response)
    assert not is_signed_in(users.alice)


@pytest.mark.django_db
def test_no_logout_token_is_400(trust, users):
    response = Client().post(URL, urlencode({"token": "x"}), content_type=FORM)

    assert_refused(response)


@pytest.mark.django_db
def test_two_logout_token_parameters_are_400(trust, server, users):
    token = server.token()
    body = urlencode([("logout_token", token), ("logout_token", token)])

    response = Client().post(URL, body, content_type=FORM)

    assert_refused(response)
    assert all(is_signed_in(client) for client in users.all())


@pytest.mark.django_db
def test_a_body_over_16_kib_is_413(trust, server, users):
    token = server.token({"padding": "x" * 16 * 1024})

    response = post(token)

    assert_error(response, 413)
    assert is_signed_in(users.alice)


@pytest.mark.django_db
def test_extra_form_parameters_are_ignored(trust, server, users):
    assert_accepted(post(server.token(), state="abc", logout_token_hint="x"))
    assert not is_signed_in(users.alice)


@pytest.mark.django_db
def test_the_endpoint_is_csrf_exempt(trust, server, users):
    idp = Client(enforce_csrf_checks=True)

    assert_accepted(post(server.token(), client=idp))
    assert not is_signed_in(users.alice)


@pytest.mark.django_db
def test_the_success_response_is_200_not_204_and_not_cached(trust, server, users):
    response = post(server.token())

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-cache, no-store"


# --- the JWKS: cached, refetched on rotation, with a floor; the provider down -------------------


def let_the_refetch_floor_pass(server: KeyServer) -> None:
    """What ``JWKS_MIN_REFETCH_SECONDS`` of waiting does: the floor's cache entry expires."""
    cache.delete(discovery._cache_key("jwks-fetched", server.jwks_url))


@pytest.mark.django_db
def test_the_jwks_is_fetched_once_for_several_tokens(trust, server, users):
    for sid in ("sid-a", "sid-a2", "sid-b", "sid-gone"):
        assert_accepted(post(server.token({"sid": sid, "sub": DELETE})))

    assert server.jwks_fetches == 1
    assert not any(is_signed_in(client) for client in users.all())


@pytest.mark.django_db
def test_a_rotated_key_is_accepted_after_exactly_one_refetch(trust, server, users):
    assert_accepted(post(server.token({"sid": "sid-b", "sub": "bob"})))
    server.serve_keys(ROTATED_RSA_KEY)
    let_the_refetch_floor_pass(server)

    assert_accepted(post(server.token(key=ROTATED_RSA_KEY)))
    assert_accepted(post(server.token({"sid": "sid-a2"}, key=ROTATED_RSA_KEY)))

    assert server.jwks_fetches == 2
    assert not is_signed_in(users.alice)
    assert not is_signed_in(users.alice_phone)


@pytest.mark.django_db
def test_a_burst_of_forged_kids_refetches_at_most_once(trust, server, users):
    assert_accepted(post(server.token({"sid": "sid-b", "sub": "bob"})))
    let_the_refetch_floor_pass(server)

    for attempt in range(20):
        forged = server.token(header_overrides={"kid": f"forged-{attempt}"}, key=OTHER_RSA_KEY)
        assert_refused(post(forged))

    assert server.jwks_fetches == 2
    assert is_signed_in(users.alice)


@pytest.mark.django_db
def test_forged_kids_right_after_a_fetch_cause_no_refetch(trust, server, users):
    assert_accepted(post(server.token({"sid": "sid-b", "sub": "bob"})))

    for attempt in range(5):
        assert_refused(post(server.token(header_overrides={"kid": f"forged-{attempt}"})))

    assert server.jwks_fetches == 1


@pytest.mark.django_db
def test_a_provider_down_with_no_cached_keys_is_503(trust, server, users):
    server.stop()

    response = post(server.token())

    assert_error(response, 503, "temporarily_unavailable")
    assert is_signed_in(users.alice)


@pytest.mark.django_db
def test_a_provider_down_with_cached_keys_still_logs_out(trust, server, users):
    assert_accepted(post(server.token({"sid": "sid-b", "sub": "bob"})))
    server.stop()

    assert_accepted(post(server.token()))
    assert not is_signed_in(users.alice)


@pytest.mark.django_db
def test_a_500_from_the_jwks_url_is_503(trust, server, users):
    server.fail_with(500)

    assert_error(post(server.token()), 503, "temporarily_unavailable")
    assert is_signed_in(users.alice)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "document",
    [b"<html>not json</html>", ["a", "list"], {"keys": 5}, {"keys": {"kid": "rsa-1"}}],
    ids=["not-json", "not-an-object", "keys-a-number", "keys-an-object"],
)
def test_a_jwks_that_is_not_a_key_set_is_503_never_500(trust, server, users, document):
    server.serve_jwks_document(document)

    response = post(server.token())

    assert_error(response, 503, "temporarily_unavailable")
    assert is_signed_in(users.alice)


# --- trusted issuers ----------------------------------------------------------------------------


@pytest.fixture
def oidc_idp(settings: Any, server: KeyServer) -> None:
    """The IdP configured for mozilla-django-oidc, no TRUSTED_ISSUERS."""
    settings.LOGOUT_SSO = {"TRUSTED_ISSUERS": []}
    settings.OIDC_OP_ISSUER = server.issuer
    settings.OIDC_RP_CLIENT_ID = AUDIENCE
    settings.OIDC_OP_JWKS_ENDPOINT = server.jwks_url
    settings.OIDC_RP_SIGN_ALGO = "RS256"


@pytest.mark.django_db
def test_the_mozilla_django_oidc_idp_is_trusted(oidc_idp, server, users):
    assert_accepted(post(server.token()))

    assert not is_signed_in(users.alice)
    assert is_signed_in(users.alice_phone)


@pytest.mark.django_db
def test_the_mozilla_django_oidc_idp_never_accepts_hs256(oidc_idp, settings, server, users):
    settings.OIDC_RP_SIGN_ALGO = "HS256"
    settings.OIDC_RP_CLIENT_SECRET = "client-secret"

    assert_refused(post(hmac_token(b"client-secret", issuer=server.issuer)))
    assert_refused(post(hmac_token(RSA_KEY.public_pem(), issuer=server.issuer)))
    assert is_signed_in(users.alice)
    assert_accepted(post(server.token()))  # falls back to RS256


@pytest.mark.django_db
def test_the_mozilla_django_oidc_idp_uses_its_sign_algo(oidc_idp, settings, server, users):
    settings.OIDC_RP_SIGN_ALGO = "ES256"

    assert_refused(post(server.token()))
    assert is_signed_in(users.alice)
    assert_accepted(post(server.token(key=EC_KEY)))
    assert not is_signed_in(users.alice)


@pytest.mark.django_db
def test_no_trusted_issuer_refuses_every_token(settings, server, users):
    settings.LOGOUT_SSO = {}

    assert_refused(post(server.token()))
    assert is_signed_in(users.alice)


@pytest.mark.django_db
def test_keys_are_found_by_discovery_without_a_jwks_uri(trust, server, users):
    trust(jwks_uri=False)

    assert_accepted(post(server.token()))
    assert_accepted(post(server.token({"sid": "sid-b", "sub": "bob"})))

    assert not is_signed_in(users.alice)
    assert not is_signed_in(users.bob)
    assert (server.discovery_fetches, server.jwks_fetches) == (1, 1)


@pytest.mark.django_db
def test_a_hub_relaying_the_idps_subjects_ends_sessions_signed_in_at_the_idp(
    settings, server, users
):
    hub_key = ec_key("hub-1")
    hub = KeyServer(hub_key)
    try:
        settings.LOGOUT_SSO = {
            "TRUSTED_ISSUERS": [
                {"issuer": server.issuer, "audience": AUDIENCE, "jwks_uri": server.jwks_url},
                {
                    "issuer": hub.issuer,
                    "audience": AUDIENCE,
                    "jwks_uri": hub.jwks_url,
                    "algorithms": ["ES256"],
                    "subject_issuer": server.issuer,
                },
            ]
        }
        # The hub's key signs for the hub only, not for the IdP it relays.
        assert_refused(post(make_token(hub_key, issuer=server.issuer)))
        assert is_signed_in(users.alice)

        assert_accepted(post(hub.token(key=hub_key)))

        assert not is_signed_in(users.alice)
        assert is_signed_in(users.alice_phone)
        assert LogoutEvent.objects.get().issuer == server.issuer
    finally:
        hub.stop()


@pytest.mark.django_db
def test_discovery_down_is_503(trust, server, users):
    trust(jwks_uri=False)
    server.stop()

    assert_error(post(server.token()), 503, "temporarily_unavailable")
    assert is_signed_in(users.alice)


# --- effects: the event, the signals, the index -------------------------------------------------


@pytest.mark.django_db
def test_a_logout_event_is_recorded(trust, server, users, acme):
    assert_accepted(post(server.token()))

    event = LogoutEvent.objects.get()
    assert event.initiator == "idp_backchannel"
    assert event.organization == acme
    assert (event.issuer, event.sub, event.sid) == (server.issuer, "alice", "sid-a")
    assert event.sessions_ended == 1
    assert event.outcome == "completed"


@pytest.mark.django_db
def test_sub_only_records_every_session_ended(trust, server, users, acme):
    assert_accepted(post(server.token({"sid": DELETE})))

    event = LogoutEvent.objects.get()
    assert (event.sub, event.sid, event.sessions_ended) == ("alice", "", 2)


@pytest.mark.django_db
def test_sessions_of_several_organizations_record_no_organization(
    trust, server, users, make_organization
):
    globex = make_organization("globex")
    sign_in("alice", globex, issuer=server.issuer, sub="alice", sid="sid-a3")

    assert_accepted(post(server.token({"sid": DELETE})))

    event = LogoutEvent.objects.get()
    assert (event.organization, event.sessions_ended) == (None, 3)


@pytest.mark.django_db
def test_sessions_terminated_is_sent(trust, server, users, captured_signals):
    [terminated] = captured_signals(sessions_terminated)

    assert_accepted(post(server.token()))
    assert_accepted(post(server.token({"sid": DELETE, "sub": "bob"})))

    assert terminated == [
        {
            "sender": LogoutEvent,
            "issuer": server.issuer,
            "sub": "alice",
            "sid": "sid-a",
            "count": 1,
        },
        {"sender": LogoutEvent, "issuer": server.issuer, "sub": "bob", "sid": "", "count": 1},
    ]


@pytest.mark.django_db
def test_logout_recorded_is_sent_with_the_event(trust, server, users, captured_signals):
    [recorded] = captured_signals(logout_recorded)

    assert_accepted(post(server.token()))

    assert [sent["event"] for sent in recorded] == [LogoutEvent.objects.get()]


@pytest.mark.django_db
def test_nothing_is_recorded_or_sent_for_a_refused_token(trust, server, users, captured_signals):
    terminated, recorded = captured_signals(sessions_terminated, logout_recorded)

    assert_refused(post(server.token({"nonce": "n"})))

    assert (terminated, recorded, LogoutEvent.objects.count()) == ([], [], 0)


@pytest.mark.django_db
def test_the_ended_sessions_leave_the_index(trust, server, users):
    assert_accepted(post(server.token({"sid": DELETE})))

    assert list(LocalSession.objects.values_list("sub", "sid")) == [("bob", "sid-b")]


# --- session engines ----------------------------------------------------------------------------


@pytest.fixture(params=["db", "django-redis", "cached_db"])
def session_engine(request: pytest.FixtureRequest, settings: Any) -> str:
    engine: str = request.param
    if engine == "django-redis":
        redis_url = request.getfixturevalue("redis_url")
        request.getfixturevalue("redis_client")  # emptied
        settings.CACHES = {
            **settings.CACHES,
            "sessions": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url},
        }
        settings.SESSION_CACHE_ALIAS = "sessions"
        settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    else:
        settings.SESSION_ENGINE = f"django.contrib.sessions.backends.{engine}"
    return engine


@pytest.mark.django_db
def test_each_session_engine_ends_the_session_end_to_end(session_engine, trust, server, acme):
    alice = sign_in("alice", acme, issuer=server.issuer, sub="alice", sid="sid-a")
    bob = sign_in("bob", acme, issuer=server.issuer, sub="bob", sid="sid-b")
    assert is_signed_in(alice)

    assert_accepted(post(server.token()))

    assert not is_signed_in(alice)
    assert is_signed_in(bob)
