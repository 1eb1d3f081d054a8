"""The session index (``logout_sso.internal.session_index``) on the db and django-redis session
engines, and ``logout_sso.internal.discovery`` against a real HTTP server on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from logout_sso.internal import discovery
from logout_sso.internal.discovery import ProviderError, provider_metadata, signing_key
from logout_sso.internal.session_index import end_sessions, index_session, unindex_session
from logout_sso.models import LocalSession, Organization
from tests.loopback import IncomingRequest, LoopbackServer, Reply, json_reply
from tests.services import free_port
from tests.signing_in import is_signed_in

IDP = "https://idp.example.com/"
OTHER_IDP = "https://other-idp.example.com/"


# --- index_session / unindex_session ------------------------------------------------------------


@pytest.mark.django_db
def test_index_session_records_who_the_session_belongs_to(acme):
    index_session("key-1", issuer=IDP, sub="u1", sid="s1", organization_id=acme.pk)

    entry = LocalSession.objects.get(session_key="key-1")
    assert (entry.issuer, entry.sub, entry.sid, entry.organization) == (IDP, "u1", "s1", acme)


@pytest.mark.django_db
def test_indexing_a_session_again_updates_it(acme):
    index_session("key-1", issuer=IDP, sub="u1", sid="s1", organization_id=acme.pk)

    index_session("key-1", issuer=IDP, sub="u1", sid="s2", organization_id=acme.pk)

    assert list(LocalSession.objects.values_list("session_key", "sid")) == [("key-1", "s2")]


@pytest.mark.django_db
def test_unindex_session_forgets_only_that_session(acme):
    index_session("key-1", issuer=IDP, sub="u1", sid="s1", organization_id=acme.pk)
    index_session("key-2", issuer=IDP, sub="u1", sid="s2", organization_id=acme.pk)

    unindex_session("key-1")
    unindex_session(None)
    unindex_session("unknown")

    assert list(LocalSession.objects.values_list("session_key", flat=True)) == ["key-2"]


# --- end_sessions -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_end_sessions_needs_a_sid_or_a_sub():
    with pytest.raises(ValueError, match="names a sid or a sub"):
        end_sessions(IDP)


@pytest.fixture
def indexed(acme) -> Callable[..., None]:
    def index(key: str, *, issuer: str = IDP, sub: str = "u1", sid: str = "") -> None:
        index_session(key, issuer=issuer, sub=sub, sid=sid, organization_id=acme.pk)

    return index


def remaining() -> set[str]:
    return set(LocalSession.objects.values_list("session_key", flat=True))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "ended", "left"),
    [
        ({"sid": "s1"}, 2, {"u1-s2", "u1-other-idp", "u2-s3"}),
        ({"sub": "u1"}, 3, {"u1-other-idp", "u2-s3"}),
        ({"sid": "s1", "sub": "u1"}, 2, {"u1-s2", "u1-other-idp", "u2-s3"}),
        ({"sid": "s1", "sub": "u2"}, 0, {"u1-s1-a", "u1-s1-b", "u1-s2", "u1-other-idp", "u2-s3"}),
        ({"sid": "unknown"}, 0, {"u1-s1-a", "u1-s1-b", "u1-s2", "u1-other-idp", "u2-s3"}),
    ],
    ids=["by-sid", "by-sub", "by-sid-and-sub", "sid-of-another-sub", "unknown-sid"],
)
def test_end_sessions_ends_the_named_sessions_at_that_issuer_only(indexed, kwargs, ended, left):
    indexed("u1-s1-a", sid="s1")
    indexed("u1-s1-b", sid="s1")
    indexed("u1-s2", sid="s2")
    indexed("u1-other-idp", issuer=OTHER_IDP, sid="s1")
    indexed("u2-s3", sub="u2", sid="s3")

    assert end_sessions(IDP, **kwargs) == ended
    assert remaining() == left


@pytest.mark.django_db
def test_end_sessions_by_sub_also_ends_sessions_without_sid(indexed):
    indexed("no-sid")

    assert end_sessions(IDP, sub="u1") == 1
    assert remaining() == set()


# --- ending real sessions, on each session engine -----------------------------------------------


@pytest.fixture(params=["db", "django-redis"])
def session_engine(request, settings) -> str:
    """Each server-side session engine logout_sso supports in production."""
    if request.param == "db":
        settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
        return "db"
    redis_url = request.getfixturevalue("redis_url")
    request.getfixturevalue("redis_client")  # emptied
    settings.CACHES = {
        **settings.CACHES,
        "sessions": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url},
    }
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    settings.SESSION_CACHE_ALIAS = "sessions"
    return "django-redis"


def signed_in_client(username: str, organization: Organization, *, sub: str, sid: str) -> Client:
    client = Client()
    client.force_login(User.objects.create_user(username))
    session_key = client.session.session_key
    assert session_key is not None
    index_session(session_key, issuer=IDP, sub=sub, sid=sid, organization_id=organization.pk)
    return client


@pytest.mark.django_db
def test_ending_a_sid_signs_out_its_browser_and_no_other(session_engine, acme):
    laptop = signed_in_client("alice", acme, sub="u1", sid="s1")
    phone = signed_in_client("alice-phone", acme, sub="u1", sid="s2")
    assert is_signed_in(laptop)
    assert is_signed_in(phone)

    assert end_sessions(IDP, sid="s1") == 1

    assert not is_signed_in(laptop)
    assert is_signed_in(phone)


@pytest.mark.django_db
def test_ending_a_sub_signs_out_every_browser_of_that_user(session_engine, acme):
    laptop = signed_in_client("alice", acme, sub="u1", sid="s1")
    phone = signed_in_client("alice-phone", acme, sub="u1", sid="s2")
    colleague = signed_in_client("bob", acme, sub="u2", sid="s3")

    assert end_sessions(IDP, sub="u1") == 2

    assert not is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert is_signed_in(colleague)


@pytest.mark.django_db
def test_ending_a_session_that_already_ended_still_counts(session_engine, acme):
    laptop = signed_in_client("alice", acme, sub="u1", sid="s1")
    laptop.logout()  # gone from the store, still in the index

    assert end_sessions(IDP, sid="s1") == 1
    assert remaining() == set()


@pytest.mark.django_db
def test_ended_sessions_leave_nothing_in_redis(acme, settings, redis_url, redis_client):
    settings.CACHES = {
        **settings.CACHES,
        "sessions": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url},
    }
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    settings.SESSION_CACHE_ALIAS = "sessions"
    signed_in_client("alice", acme, sub="u1", sid="s1")
    assert len(redis_client.keys("*django.contrib.sessions.cache*")) == 1

    end_sessions(IDP, sid="s1")

    assert redis_client.keys("*django.contrib.sessions.cache*") == []


# --- discovery: a real HTTP server on loopback --------------------------------------------------


class Provider(LoopbackServer):
    """An HTTP server on 127.0.0.1 serving JSON documents by path and counting requests."""

    def __init__(self) -> None:
        self.documents: dict[str, Any] = {}
        super().__init__(self._document)

    def _document(self, request: IncomingRequest) -> Reply:
        if request.path not in self.documents:
            return Reply(404)
        return json_reply(self.documents[request.path])

    @property
    def jwks_uri(self) -> str:
        return f"{self.url}/jwks"

    def serve_keys(self, *keys: dict[str, Any]) -> None:
        self.documents["/jwks"] = {"keys": list(keys)}

    @property
    def jwks_fetches(self) -> int:
        return self.requests["/jwks"]


@pytest.fixture
def provider() -> Iterator[Provider]:
    with Provider() as provider:
        yield provider


def rsa_jwk(kid: str, **extra: str) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", **extra}


def ec_jwk(kid: str, **extra: str) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk: dict[str, Any] = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", **extra}


def let_the_refetch_floor_pass(jwks_uri: str) -> None:
    """What ``JWKS_MIN_REFETCH_SECONDS`` of waiting does: the floor's cache entry expires."""
    cache.delete(discovery._cache_key("jwks-fetched", jwks_uri))


def public_numbers(key: jwt.PyJWK) -> Any:
    return key.key.public_numbers()


def test_the_jwks_is_fetched_once_then_cached(provider):
    k1 = rsa_jwk("k1", alg="RS256")
    provider.serve_keys(k1)

    first = signing_key(provider.jwks_uri, "k1", "RS256")
    again = signing_key(provider.jwks_uri, "k1", "RS256")

    assert provider.jwks_fetches == 1
    assert public_numbers(first) == public_numbers(again)
    assert first.key_id == "k1"


def test_an_unknown_kid_refetches_once_then_not_within_the_floor(provider):
    provider.serve_keys(rsa_jwk("k1"))
    signing_key(provider.jwks_uri, "k1", "RS256")
    let_the_refetch_floor_pass(provider.jwks_uri)

    for _attempt in range(5):
        with pytest.raises(ProviderError, match="No RS256 key with kid 'forged'"):
            signing_key(provider.jwks_uri, "forged", "RS256")

    assert provider.jwks_fetches == 2


def test_an_unknown_kid_right_after_a_fetch_is_not_refetched(provider):
    provider.serve_keys(rsa_jwk("k1"))
    signing_key(provider.jwks_uri, "k1", "RS256")

    with pytest.raises(ProviderError):
        signing_key(provider.jwks_uri, "forged", "RS256")

    assert provider.jwks_fetches == 1


def test_a_rotated_key_is_found_after_the_refetch(provider):
    old, new = rsa_jwk("old"), rsa_jwk("new")
    provider.serve_keys(old)
    signing_key(provider.jwks_uri, "old", "RS256")
    provider.serve_keys(new)
    let_the_refetch_floor_pass(provider.jwks_uri)

    key = signing_key(provider.jwks_uri, "new", "RS256")
    signing_key(provider.jwks_uri, "new", "RS256")

    assert key.key_id == "new"
    assert provider.jwks_fetches == 2


@pytest.mark.parametrize(
    ("keys", "kid"),
    [
        ([ec_jwk("k1", alg="ES256"), rsa_jwk("k1", alg="RS256")], "k1"),
        ([ec_jwk("k1"), rsa_jwk("k1")], "k1"),
        ([ec_jwk("k1"), rsa_jwk("k2")], None),
        ([rsa_jwk("k1", alg="RS512"), rsa_jwk("k1", alg="RS256")], "k1"),
        ([rsa_jwk("k1", use="enc"), rsa_jwk("k1")], "k1"),
        ([{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ", "kid": "k1"}, rsa_jwk("k1")], "k1"),
    ],
    ids=[
        "ec-key-with-alg",
        "ec-key-without-alg",
        "ec-key-token-without-kid",
        "other-rsa-alg",
        "encryption-key",
        "symmetric-key",
    ],
)
def test_a_key_of_another_type_or_use_is_not_chosen(provider, keys, kid):
    provider.serve_keys(*keys)

    key = signing_key(provider.jwks_uri, kid, "RS256")

    assert isinstance(key.key, rsa.RSAPublicKey)
    assert public_numbers(key) == public_numbers(jwt.PyJWK(keys[1], algorithm="RS256"))


def test_no_key_of_the_tokens_algorithm_is_a_provider_error(provider):
    provider.serve_keys(ec_jwk("k1"))

    with pytest.raises(ProviderError, match="No RS256 key"):
        signing_key(provider.jwks_uri, "k1", "RS256")


def test_provider_metadata_is_fetched_once(provider):
    issuer = f"{provider.url}/"
    provider.documents["/.well-known/openid-configuration"] = {
        "issuer": issuer,
        "end_session_endpoint": f"{provider.url}/session/end",
    }

    first = provider_metadata(issuer)
    again = provider_metadata(issuer)

    assert first == again
    assert first["end_session_endpoint"] == f"{provider.url}/session/end"
    assert provider.requests["/.well-known/openid-configuration"] == 1


@pytest.mark.parametrize(
    "document_issuer",
    ["https://evil.example.com/", "{url}", "{url}//"],
    ids=["another-issuer", "without-trailing-slash", "double-slash"],
)
def test_provider_metadata_naming_another_issuer_is_refused(provider, document_issuer):
    issuer = f"{provider.url}/"
    provider.documents["/.well-known/openid-configuration"] = {
        "issuer": document_issuer.format(url=provider.url)
    }

    with pytest.raises(ProviderError, match="they must match exactly"):
        provider_metadata(issuer)
    # A refused document is not cached; its failure is, for FAILURE_CACHE_SECONDS: no request.
    with pytest.raises(ProviderError, match=r"The last fetch of .* failed .*must match exactly"):
        provider_metadata(issuer)

    assert provider.requests["/.well-known/openid-configuration"] == 1


@pytest.mark.parametrize(
    ("path", "document"),
    [("/missing", None), ("/list", ["not", "an", "object"])],
    ids=["http-404", "not-an-object"],
)
def test_a_bad_answer_is_a_provider_error(provider, path, document):
    if document is not None:
        provider.documents[path] = document

    with pytest.raises(ProviderError):
        signing_key(f"{provider.url}{path}", "k1", "RS256")


def test_a_provider_that_is_down_is_a_provider_error():
    url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(ProviderError, match="Cannot read"):
        provider_metadata(f"{url}/")
    with pytest.raises(ProviderError, match="Cannot read"):
        signing_key(f"{url}/jwks", "k1", "RS256")
