"""The hub's signing keys, its JWKS (``/sso/jwks/``) and the logout tokens it signs.

Every token is checked the way applications check it: by logout_sso's own back-channel receiver
(fetching the hub's JWKS over HTTP) and, separately, by a second JOSE implementation (joserfc).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.core.exceptions import ImproperlyConfigured
from joserfc.jwk import import_key

from logout_sso.hub.internal.keys import published_jwks
from logout_sso.hub.internal.tokens import sign_logout_token
from logout_sso.receiver.internal.tokens import InvalidLogoutToken
from tests.hub_receivers import (
    BACKCHANNEL_LOGOUT_EVENT,
    HUB_ISSUER,
    IDP_ISSUER,
    decode_with_joserfc,
    hub_logout_sso,
    validate_as_receiver,
)
from tests.pem import pkcs8_pem, rsa_private_key_pem

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_int(value: int, length: int | None = None) -> str:
    return b64url(value.to_bytes(length or (value.bit_length() + 7) // 8, "big"))


def independent_thumbprint(pem: str) -> str:
    """RFC 7638, computed here from the key's numbers (not from any JWK library)."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    members: dict[str, str]
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        members = {"e": b64url_int(numbers.e), "kty": "RSA", "n": b64url_int(numbers.n)}
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        point = key.public_key().public_numbers()
        members = {
            "crv": "P-256",
            "kty": "EC",
            "x": b64url_int(point.x, 32),
            "y": b64url_int(point.y, 32),
        }
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url(hashlib.sha256(canonical).digest())


def header_of(token: str) -> dict[str, object]:
    return dict(jwt.get_unverified_header(token))


def claims_of(token: str) -> dict[str, object]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


# --- The JWKS --------------------------------------------------------------------------------


def test_jwks_publishes_active_and_inactive_public_keys(client, hub_settings, hub_ec_pem):
    hub_settings.LOGOUT_SSO = {
        **hub_settings.LOGOUT_SSO,
        "HUB_SIGNING_KEYS_INACTIVE": [hub_ec_pem],
    }

    response = client.get("/sso/jwks/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/jwk-set+json"
    assert "max-age" in response["Cache-Control"]
    keys = response.json()["keys"]
    assert [(key["kty"], key["alg"], key["use"]) for key in keys] == [
        ("RSA", "RS256", "sig"),
        ("EC", "ES256", "sig"),
    ]
    assert all(not PRIVATE_MEMBERS & set(key) for key in keys)


def test_jwks_key_ids_are_rfc7638_thumbprints(client, hub_settings, hub_rsa_pem, hub_ec_pem):
    hub_settings.LOGOUT_SSO = {
        **hub_settings.LOGOUT_SSO,
        "HUB_SIGNING_KEYS_INACTIVE": [hub_ec_pem],
    }

    keys = client.get("/sso/jwks/").json()["keys"]

    assert [key["kid"] for key in keys] == [
        independent_thumbprint(hub_rsa_pem),
        independent_thumbprint(hub_ec_pem),
    ]
    assert [key["kid"] for key in keys] == [import_key(key).thumbprint() for key in keys]


def test_jwks_of_a_project_without_signing_key_is_empty(client, settings):
    settings.LOGOUT_SSO = {}

    assert client.get("/sso/jwks/").json() == {"keys": []}


def test_jwks_answers_get_only(client, hub_settings):
    assert client.post("/sso/jwks/").status_code == 405


# --- The logout tokens -----------------------------------------------------------------------


def test_logout_token_header_is_typed_and_names_the_key(hub_settings, hub_rsa_pem):
    token = sign_logout_token(audience="wiki-client", sub="user-1", sid="sid-1")

    assert header_of(token) == {
        "alg": "RS256",
        "typ": "logout+jwt",
        "kid": independent_thumbprint(hub_rsa_pem),
    }


def test_logout_token_has_the_back_channel_logout_claims(hub_settings):
    before = int(time.time())
    token = sign_logout_token(audience="wiki-client", sub="user-1", sid="sid-1")

    claims = claims_of(token)

    assert set(claims) == {"iss", "aud", "iat", "exp", "jti", "sub", "sid", "events"}
    assert claims["iss"] == HUB_ISSUER
    assert claims["aud"] == "wiki-client"
    assert claims["sub"] == "user-1"
    assert claims["sid"] == "sid-1"
    assert claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}
    assert isinstance(claims["iat"], int)
    assert before <= claims["iat"] <= int(time.time())
    assert isinstance(claims["exp"], int)
    assert 0 < claims["exp"] - claims["iat"] <= 300
    assert "nonce" not in claims


def test_each_logout_token_has_its_own_jti(hub_settings):
    tokens = [sign_logout_token(audience="wiki-client", sub="user-1", sid="") for _ in range(3)]

    jtis = [claims_of(token)["jti"] for token in tokens]

    assert all(isinstance(jti, str) and len(jti) >= 16 for jti in jtis)
    assert len(set(jtis)) == 3


def test_logout_token_for_a_subject_only_has_no_sid(hub_settings):
    claims = claims_of(sign_logout_token(audience="wiki-client", sub="user-1", sid=""))

    assert claims["sub"] == "user-1"
    assert "sid" not in claims


def test_logout_token_for_a_session_only_has_no_sub(hub_settings):
    claims = claims_of(sign_logout_token(audience="wiki-client", sub="", sid="sid-1"))

    assert claims["sid"] == "sid-1"
    assert "sub" not in claims


def test_logout_token_is_accepted_by_logout_sso_receiver(hub_settings, hub_jwks):
    token = sign_logout_token(audience="wiki-client", sub="user-1", sid="sid-1")

    accepted = validate_as_receiver(token, audience="wiki-client", jwks_uri=hub_jwks.url)

    assert (accepted.issuer, accepted.sub, accepted.sid) == (IDP_ISSUER, "user-1", "sid-1")
    claims = claims_of(token)
    assert (
        accepted.token_id
        == hashlib.sha256(f"{claims['iss']}\n{claims['jti']}".encode()).hexdigest()
    )
    assert hub_jwks.requests == 1


def test_logout_token_is_accepted_by_joserfc(client, hub_settings):
    token = sign_logout_token(audience="wiki-client", sub="user-1", sid="sid-1")
    jwks = client.get("/sso/jwks/").json()

    decoded = decode_with_joserfc(token, jwks, audience="wiki-client")

    assert decoded.header["typ"] == "logout+jwt"
    assert decoded.claims["sub"] == "user-1"
    assert decoded.claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}


def test_logout_token_for_another_application_is_refused(hub_settings, hub_jwks):
    token = sign_logout_token(audience="billing-client", sub="user-1", sid="")

    with pytest.raises(InvalidLogoutToken, match=r"(?i)audience"):
        validate_as_receiver(token, audience="wiki-client", jwks_uri=hub_jwks.url)


def test_logout_token_signed_by_another_key_is_refused(hub_settings, hub_jwks):
    hub_settings.LOGOUT_SSO = hub_logout_sso(rsa_private_key_pem())
    token = sign_logout_token(audience="wiki-client", sub="user-1", sid="")
    stranger_kid = header_of(token)["kid"]
    hub_settings.LOGOUT_SSO = hub_logout_sso(rsa_private_key_pem())

    with pytest.raises(InvalidLogoutToken, match=f"kid '{stranger_kid}'"):
        validate_as_receiver(token, audience="wiki-client", jwks_uri=hub_jwks.url)


# --- Rotation --------------------------------------------------------------------------------


def test_token_signed_by_the_old_key_verifies_while_it_is_published_inactive(
    client, hub_settings, hub_jwks
):
    old, new = rsa_private_key_pem(), rsa_private_key_pem()
    hub_settings.LOGOUT_SSO = hub_logout_sso(old)
    signed_before = sign_logout_token(audience="wiki-client", sub="user-1", sid="")

    hub_settings.LOGOUT_SSO = hub_logout_sso(new, HUB_SIGNING_KEYS_INACTIVE=[old])
    signed_after = sign_logout_token(audience="wiki-client", sub="user-2", sid="")
    jwks = client.get("/sso/jwks/").json()

    assert header_of(signed_before)["kid"] != header_of(signed_after)["kid"]
    for token in (signed_before, signed_after):
        validate_as_receiver(token, audience="wiki-client", jwks_uri=hub_jwks.url)
        decode_with_joserfc(token, jwks, audience="wiki-client")


def test_token_signed_by_a_dropped_key_is_refused(client, hub_settings, hub_jwks):
    old, new = rsa_private_key_pem(), rsa_private_key_pem()
    hub_settings.LOGOUT_SSO = hub_logout_sso(old)
    token = sign_logout_token(audience="wiki-client", sub="user-1", sid="")

    hub_settings.LOGOUT_SSO = hub_logout_sso(new)

    with pytest.raises(InvalidLogoutToken, match="No RS256 key"):
        validate_as_receiver(token, audience="wiki-client", jwks_uri=hub_jwks.url)


def test_key_published_before_use_verifies_from_the_receivers_cached_jwks(hub_settings, hub_jwks):
    old, new = rsa_private_key_pem(), rsa_private_key_pem()
    hub_settings.LOGOUT_SSO = hub_logout_sso(old, HUB_SIGNING_KEYS_INACTIVE=[new])
    first = sign_logout_token(audience="wiki-client", sub="user-1", sid="")
    validate_as_receiver(first, audience="wiki-client", jwks_uri=hub_jwks.url)

    hub_settings.LOGOUT_SSO = hub_logout_sso(new, HUB_SIGNING_KEYS_INACTIVE=[old])
    second = sign_logout_token(audience="wiki-client", sub="user-1", sid="")
    validate_as_receiver(second, audience="wiki-client", jwks_uri=hub_jwks.url)

    assert hub_jwks.requests == 1


# --- ES256 -----------------------------------------------------------------------------------


def test_ec_p256_key_signs_es256_tokens_that_both_implementations_accept(
    client, hub_settings, hub_ec_pem, hub_jwks
):
    hub_settings.LOGOUT_SSO = hub_logout_sso(hub_ec_pem)
    token = sign_logout_token(audience="wiki-client", sub="user-1", sid="sid-1")
    jwks = client.get("/sso/jwks/").json()

    assert header_of(token) == {
        "alg": "ES256",
        "typ": "logout+jwt",
        "kid": independent_thumbprint(hub_ec_pem),
    }
    accepted = validate_as_receiver(
        token, audience="wiki-client", jwks_uri=hub_jwks.url, algorithms=["ES256"]
    )
    assert accepted.sid == "sid-1"
    decoded = decode_with_joserfc(token, jwks, audience="wiki-client", algorithms=["ES256"])
    assert decoded.claims["sid"] == "sid-1"


# --- Bad keys --------------------------------------------------------------------------------


GARBLED_PEM = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        pytest.param("not a key", "HUB_SIGNING_KEY", id="not-pem"),
        pytest.param(GARBLED_PEM, "HUB_SIGNING_KEY", id="garbled"),
        pytest.param(
            pkcs8_pem(
                rsa.generate_private_key(public_exponent=65537, key_size=2048),
                passphrase=b"passphrase",
            ),
            "HUB_SIGNING_KEY",
            id="encrypted",
        ),
        pytest.param(
            pkcs8_pem(ec.generate_private_key(ec.SECP384R1())), "RSA or EC P-256", id="p384"
        ),
        pytest.param(
            pkcs8_pem(ed25519.Ed25519PrivateKey.generate()), "RSA or EC P-256", id="ed25519"
        ),
    ],
)
def test_unusable_signing_key_is_improperly_configured(settings, pem, message):
    settings.LOGOUT_SSO = {"HUB_ISSUER": HUB_ISSUER, "HUB_SIGNING_KEY": pem}

    with pytest.raises(ImproperlyConfigured, match=message) as signing:
        sign_logout_token(audience="wiki-client", sub="user-1", sid="")
    with pytest.raises(ImproperlyConfigured, match=message):
        published_jwks()

    key_material = [line for line in pem.splitlines() if not line.startswith("-----")]
    assert not any(line in str(signing.value) for line in key_material)


def test_unusable_inactive_key_is_improperly_configured(settings, hub_rsa_pem):
    settings.LOGOUT_SSO = hub_logout_sso(hub_rsa_pem, HUB_SIGNING_KEYS_INACTIVE=[GARBLED_PEM])

    with pytest.raises(ImproperlyConfigured, match="HUB_SIGNING_KEYS_INACTIVE"):
        published_jwks()


def test_signing_without_a_key_is_improperly_configured(settings):
    settings.LOGOUT_SSO = {"HUB_ISSUER": HUB_ISSUER}

    with pytest.raises(ImproperlyConfigured, match="HUB_SIGNING_KEY"):
        sign_logout_token(audience="wiki-client", sub="user-1", sid="")


def test_signing_without_an_issuer_is_improperly_configured(settings, hub_rsa_pem):
    settings.LOGOUT_SSO = {"HUB_SIGNING_KEY": hub_rsa_pem}

    with pytest.raises(ImproperlyConfigured, match="HUB_ISSUER"):
        sign_logout_token(audience="wiki-client", sub="user-1", sid="")
