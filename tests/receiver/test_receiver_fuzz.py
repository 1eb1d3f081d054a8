"""Property tests of the back-channel logout receiver: malformed and mutated logout tokens.

Every token posted here differs from a valid, unreplayed one (random strings; valid tokens with
a byte flipped; valid tokens re-signed after a claim or header member was made invalid). The
sender must get a 400 JSON error, never a 5xx, and no session may end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from logout_sso.internal.session_index import index_session
from logout_sso.models import LocalSession, LogoutEvent, Organization
from logout_sso.rp.internal.state import SignedIn
from tests.receiver_keys import (
    AUDIENCE,
    DELETE,
    EC_KEY,
    ED25519_KEY,
    EVENT,
    RSA_KEY,
    RSA_KEY_WITHOUT_ALG,
    KeyServer,
    b64url,
    b64url_decode,
)

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

URL = "/sso/backchannel-logout/"
FORM = "application/x-www-form-urlencoded"
FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
KNOWN_CLAIMS = {"iss", "aud", "iat", "exp", "jti", "sid", "sub", "events", "nonce", "nbf"}

#: The key server (``server``) is trusted (``trust``), with RS256, ES256 and EdDSA: both from
#: tests/receiver/conftest.py.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("trust")]


# --- the receiver, a victim, and a check after each example -------------------------------------


@pytest.fixture
def victims(server: KeyServer, make_organization: Any) -> list[Client]:
    """User A's two sessions (sid-a, sid-a2, sub alice): what every base token names."""
    organization: Organization = make_organization("acme")
    user = User.objects.create_user("alice")
    clients = []
    for sid in ("sid-a", "sid-a2"):
        client = Client()
        client.force_login(user)
        session = client.session
        SignedIn(
            organization_id=organization.pk,
            issuer=server.issuer,
            sub="alice",
            sid=sid,
            id_token="x.y.z",
            checked_at=time.time(),
        ).save(session)
        session.save()
        assert session.session_key is not None
        index_session(
            session.session_key,
            issuer=server.issuer,
            sub="alice",
            sid=sid,
            organization_id=organization.pk,
        )
        clients.append(client)
    return clients


def post(token: str) -> Response:
    return Client().post(URL, urlencode({"logout_token": token}), content_type=FORM)


@contextmanager
def example_of_its_own() -> Iterator[None]:
    """Whatever one example did to the database (sessions, index, events) is undone, so that
    a failure is reported for the example that caused it, not for every later one."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def assert_refused_and_nothing_ended(token: str, victims: list[Client]) -> None:
    with example_of_its_own():
        _assert_refused_and_nothing_ended(post(token), victims)


def _assert_refused_and_nothing_ended(response: Response, victims: list[Client]) -> None:
    assert response.status_code == 400, response.content.decode()
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["error_description"]
    assert LocalSession.objects.count() == 2
    assert not LogoutEvent.objects.exists()
    assert all(client.get("/me/").json()["authenticated"] for client in victims)


# --- strategies ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and infinities too: Python's json writes and reads them
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


not_numbers = json_values.filter(lambda value: not is_number(value))
not_strings = json_values.filter(lambda value: not isinstance(value, str))
#: JSON strings PyJWT would read as times (``int("...")``) that would be valid as numbers: a
#: NumericDate must be a number. ``iat`` about now, ``exp`` ahead (2033 and later).
iat_as_string = st.integers(min_value=-30, max_value=30).map(lambda d: str(int(time.time()) + d))
exp_as_string = st.integers(min_value=2 * 10**9, max_value=10**10).map(str)

#: For each claim, values that make a token invalid (times are absolute: 2001 is long past,
#: 2096 far ahead, so no example depends on when it runs).
INVALID_CLAIM_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "iss": json_values,  # never the key server's http://127.0.0.1:<port>
    "aud": json_values.filter(
        lambda value: value != AUDIENCE and not (isinstance(value, list) and AUDIENCE in value)
    ),
    "iat": not_numbers
    | iat_as_string
    | st.integers(max_value=10**9)
    | st.integers(min_value=4 * 10**9),
    "exp": not_numbers | exp_as_string | st.integers(max_value=10**9),
    "jti": not_strings | st.just(""),
    "sid": not_strings | st.text(min_size=256, max_size=300),  # longer than any session's
    "sub": not_strings | st.text(min_size=256, max_size=300),
    "events": json_values
    | st.dictionaries(
        st.just(EVENT), json_values.filter(lambda value: not isinstance(value, dict))
    ),
    "nonce": json_values,  # any nonce at all
}

claim_mutation: st.SearchStrategy[dict[str, Any]] = st.one_of(
    *(st.fixed_dictionaries({claim: values}) for claim, values in INVALID_CLAIM_VALUES.items()),
    st.sampled_from(["iss", "aud", "iat", "jti", "events"]).map(lambda claim: {claim: DELETE}),
    st.just({"sid": DELETE, "sub": DELETE}),
)

unknown_claims = st.dictionaries(
    st.text(min_size=1, max_size=8).filter(lambda name: name not in KNOWN_CLAIMS),
    json_values,
    max_size=2,
)

header_mutation: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.fixed_dictionaries(
        {
            "alg": st.sampled_from(
                ["none", "None", "HS256", "HS512", "RS384", "PS256", "ES256", "EdDSA"]
            )
            | json_values.filter(lambda value: value != "RS256")
        }
    ),
    st.fixed_dictionaries(
        {
            "kid": st.sampled_from([RSA_KEY_WITHOUT_ALG.kid, EC_KEY.kid, ED25519_KEY.kid, "forged"])
            | json_values.filter(lambda value: value != RSA_KEY.kid)
        }
    ),
    st.fixed_dictionaries({"crit": json_values}),  # PyJWT supports only "b64", with b64
)

typ_noise: st.SearchStrategy[dict[str, Any]] = st.just({}) | st.fixed_dictionaries(
    {"typ": json_values}
)


def jwt_shaped() -> st.SearchStrategy[str]:
    segment = st.text(alphabet=B64URL, max_size=60)
    return st.builds(lambda *parts: ".".join(parts), segment, segment, segment)


# --- properties ---------------------------------------------------------------------------------


@FUZZ
@given(token=st.text(max_size=300) | jwt_shaped())
def test_random_strings_are_refused(server, victims, token):
    assert_refused_and_nothing_ended(token, victims)


def flip(token: str, segment: int, position: int, mask: int) -> str:
    """The token with one byte of one decoded segment changed (re-encoded canonically)."""
    parts = token.split(".")
    raw = bytearray(b64url_decode(parts[segment]))
    raw[position % len(raw)] ^= mask
    parts[segment] = b64url(bytes(raw))
    return ".".join(parts)


@FUZZ
@given(
    segment=st.sampled_from([0, 1, 2]),
    position=st.integers(min_value=0),
    mask=st.integers(min_value=1, max_value=255),
)
def test_valid_tokens_with_a_byte_flipped_are_refused(server, victims, segment, position, mask):
    token = flip(server.token(), segment, position, mask)

    assert_refused_and_nothing_ended(token, victims)


@FUZZ
@given(data=st.data(), position=st.integers(min_value=0))
def test_valid_tokens_with_a_character_changed_are_refused(server, victims, data, position):
    token = server.token()
    index = position % len(token)
    replacement = data.draw(st.sampled_from(B64URL + ".=+/ ").filter(lambda c: c != token[index]))
    mutated = token[:index] + replacement + token[index + 1 :]
    # Base64url's last character may carry unused bits: a change there that decodes to the
    # same signature leaves the token exactly as valid; that is not a mutation.
    header, payload, signature = token.split(".")
    parts = mutated.split(".")
    if len(parts) == 3 and parts[:2] == [header, payload]:
        with suppress(ValueError):  # not base64 any more: a mutation
            assume(b64url_decode(parts[2]) != b64url_decode(signature))

    assert_refused_and_nothing_ended(mutated, victims)


@FUZZ
@given(mutation=claim_mutation, noise=unknown_claims, typ=typ_noise)
def test_resigned_tokens_with_an_invalid_claim_are_refused(server, victims, mutation, noise, typ):
    token = server.token({**noise, **mutation}, typ)

    assert_refused_and_nothing_ended(token, victims)


@FUZZ
@given(mutation=header_mutation, typ=typ_noise, noise=unknown_claims)
def test_resigned_tokens_with_an_invalid_header_are_refused(server, victims, mutation, typ, noise):
    token = server.token(noise, {**typ, **mutation})

    assert_refused_and_nothing_ended(token, victims)
