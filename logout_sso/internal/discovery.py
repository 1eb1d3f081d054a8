"""OpenID provider metadata (discovery documents) and JSON Web Key Sets, from the shared cache.

Both are fetched over HTTP at most once per cache lifetime by the whole deployment; a JWKS is
fetched again when a token names a key id it lacks (key rotation), but no more often than
``JWKS_MIN_REFETCH_SECONDS``, so forged key ids cannot make the app hammer the IdP.

What keeps a slow or failing provider from holding the web workers:

- A failed fetch is remembered in the shared cache for ``FAILURE_CACHE_SECONDS``: until then,
  every call for that document raises :class:`RecentFetchFailure` at once, without a request
  (the message says when it will be tried again). A successful fetch forgets the failure.
- One fetch takes at most about ``FETCH_DEADLINE_SECONDS``, from connecting to the body's last
  byte: the body is read piece by piece, each read waiting no longer than what is left, and an
  answer of more than ``MAX_DOCUMENT_BYTES`` (or compressed: none is asked for) is refused. Not
  bounded by the deadline: the DNS look-up, and a server sending its status line and headers a
  byte at a time (each read of them waits at most what was left of the deadline when the
  request started). With urllib3 older than 2.3 (no ``read1``), a read of the body waits for
  ``READ_CHUNK_BYTES`` or the end, so the deadline is only checked between such reads.
- When several requests need a document nobody has cached, the one that marks it as being
  fetched fetches it; the others wait for its result (polling the cache, for at most the mark's
  lifetime) instead of fetching it too.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import requests
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from logout_sso.conf import app_settings

METADATA_CACHE_SECONDS = 60 * 60
JWKS_CACHE_SECONDS = 60 * 60
JWKS_MIN_REFETCH_SECONDS = 30
#: After a failed fetch, calls for that document fail at once, without a request, this long.
FAILURE_CACHE_SECONDS = JWKS_MIN_REFETCH_SECONDS
#: The most one fetch (connect, request, status, headers, body) may take.
FETCH_DEADLINE_SECONDS = 5.0
#: The longest wait for the connection to be made (within the deadline).
CONNECT_TIMEOUT_SECONDS = 3.05
#: A JWKS or a discovery document is a few KB: a longer answer is refused.
MAX_DOCUMENT_BYTES = 512 * 1024
#: The most read from the connection at once.
READ_CHUNK_BYTES = 16 * 1024
#: How often a request waiting for another's fetch looks at the cache.
WAIT_POLL_SECONDS = 0.1


class ProviderError(Exception):
    """The provider's metadata or keys could not be had, or are not what they must be."""


class KeyNotFound(ProviderError):
    """The provider's key set has no key for that key id and algorithm."""


class RecentFetchFailure(ProviderError):
    """The last fetch of the document failed less than ``FAILURE_CACHE_SECONDS`` ago; it is not
    tried again before ``retry_at`` (seconds since the epoch)."""

    def __init__(self, url: str, reason: str, retry_at: float) -> None:
        self.retry_at = retry_at
        when = datetime.fromtimestamp(retry_at, UTC).strftime("%H:%M:%S UTC")
        wait = max(0, math.ceil(retry_at - time.time()))
        super().__init__(
            f"The last fetch of {url} failed ({reason}); it will be tried again at {when} "
            f"(in {wait} s)."
        )


def _cache_key(kind: str, url: str) -> str:
    return f"logout_sso:{kind}:v1:{hashlib.sha256(url.encode()).hexdigest()}"


def _cache() -> BaseCache:
    return caches[app_settings.CACHE_ALIAS]


# --- one fetch: within the deadline and the size limit ------------------------------------------


def _deadline_passed(url: str) -> ProviderError:
    return ProviderError(
        f"Cannot read {url}: no complete answer within {FETCH_DEADLINE_SECONDS:g} s."
    )


def _time_left(url: str, deadline: float) -> float:
    """Seconds until ``deadline`` (a :func:`time.monotonic` time); ProviderError once passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise _deadline_passed(url)
    return left


def _too_large(url: str) -> ProviderError:
    return ProviderError(
        f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes: not a JWKS or discovery document."
    )


def _check_headers(url: str, response: requests.Response) -> None:
    """Refuse at once an answer that says it is too long, or compressed (not asked for)."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > MAX_DOCUMENT_BYTES:
        raise _too_large(url)
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise ProviderError(f"{url} answered with Content-Encoding {encoding!r}, not asked for.")


def _read_some(url: str, response: requests.Response, deadline: float) -> bytes:
    """What the server has sent of the body, at most ``READ_CHUNK_BYTES`` (``b""`` at its end),
    waiting no later than ``deadline``."""
    left = _time_left(url, deadline)
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    if sock is not None:  # Else (Connection: close) a read waits at most the first read timeout.
        sock.settimeout(left)
    read1 = getattr(response.raw, "read1", None)
    if read1 is None:  # urllib3 < 2.3: each read waits for a full chunk (or the end).
        return response.raw.read(READ_CHUNK_BYTES, decode_content=False) or b""
    data: bytes | None = read1(READ_CHUNK_BYTES, decode_content=False)
    return data or b""


def _read_body(url: str, response: requests.Response, deadline: float) -> bytes:
    """The whole body, read piece by piece: ProviderError past the deadline or the size limit."""
    _check_headers(url, response)
    body = bytearray()
    while chunk := _read_some(url, response, deadline):
        body += chunk
        if len(body) > MAX_DOCUMENT_BYTES:
            raise _too_large(url)
    return bytes(body)


def _json_object(url: str, body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise ProviderError(f"Cannot read {url}: {exc}") from exc
    if not isinstance(document, dict):
        raise ProviderError(f"{url} did not answer a JSON object.")
    return document


def _get_json(url: str) -> dict[str, Any]:
    """The JSON object at ``url``, read within ``FETCH_DEADLINE_SECONDS`` and
    ``MAX_DOCUMENT_BYTES``; redirects are not followed."""
    deadline = time.monotonic() + FETCH_DEADLINE_SECONDS
    try:
        with requests.get(
            url,
            timeout=(min(CONNECT_TIMEOUT_SECONDS, FETCH_DEADLINE_SECONDS), FETCH_DEADLINE_SECONDS),
            allow_redirects=False,
            stream=True,
            headers={"Accept": "application/json", "Accept-Encoding": "identity"},
        ) as response:
            response.raise_for_status()
            body = _read_body(url, response, deadline)
    except (requests.Timeout, Urllib3Timeout) as exc:
        raise _deadline_passed(url) from exc
    except (requests.RequestException, Urllib3Error, OSError) as exc:  # urllib3's: from read1
        raise ProviderError(f"Cannot read {url}: {exc}") from exc
    return _json_object(url, body)


# --- the shared cache: documents, failures, the fetch in progress -------------------------------


@dataclass(frozen=True)
class _Document:
    """A document fetched over HTTP and shared through the cache, with its last failure."""

    kind: str  # "metadata" or "jwks": the prefix of its cache keys
    name: str  # what its cache keys are of: the issuer, the JWKS URL
    url: str
    lifetime: int
    validate: Callable[[dict[str, Any]], None]
    #: Whether a fetch starts the floor of refetches (``JWKS_MIN_REFETCH_SECONDS``).
    refetch_floor: bool = False
    #: Called with the URL before each fetch; raises ProviderError where it must not go.
    guard: Callable[[str], None] | None = None

    def key(self, suffix: str = "") -> str:
        return _cache_key(self.kind + suffix, self.name)


def _fetching_mark_seconds() -> int:
    """The lifetime of the mark of a fetch in progress: its deadline, and a margin."""
    return math.ceil(FETCH_DEADLINE_SECONDS) + 1


def _raise_if_failed_recently(document: _Document) -> None:
    failure: dict[str, Any] | None = _cache().get(document.key("-failed"))
    if failure is not None:
        raise RecentFetchFailure(document.url, failure["reason"], failure["retry_at"])


def _fetch_and_remember(document: _Document) -> dict[str, Any]:
    """Fetch ``document`` now, unless its last fetch failed recently; cache the document (and
    start the refetch floor), or the failure."""
    _raise_if_failed_recently(document)
    cache = _cache()
    try:
        if document.guard is not None:
            document.guard(document.url)
        value = _get_json(document.url)
        document.validate(value)
    except ProviderError as exc:
        retry_at = time.time() + FAILURE_CACHE_SECONDS
        failure = {"reason": str(exc), "retry_at": retry_at}
        cache.set(document.key("-failed"), failure, FAILURE_CACHE_SECONDS)
        raise
    cache.set(document.key(), value, document.lifetime)
    if document.refetch_floor:
        cache.set(document.key("-fetched"), True, JWKS_MIN_REFETCH_SECONDS)
    cache.delete(document.key("-failed"))
    return value


def _pause() -> None:
    """Between two looks at the cache while another request fetches."""
    time.sleep(WAIT_POLL_SECONDS)


def _cached_or_fetched(document: _Document) -> dict[str, Any]:
    """``document`` from the cache; else fetched by this request, or by the one fetching it
    already, whose result (document or failure) this one waits for."""
    cache = _cache()
    mark = document.key("-fetching")
    give_up = time.monotonic() + _fetching_mark_seconds()
    while True:
        value: dict[str, Any] | None = cache.get(document.key())
        if value is not None:
            return value
        _raise_if_failed_recently(document)
        if cache.add(mark, True, _fetching_mark_seconds()):
            try:  # Look again: the previous fetch may have ended just before the add.
                value = cache.get(document.key())
                return _fetch_and_remember(document) if value is None else value
            finally:
                cache.delete(mark)
        if time.monotonic() >= give_up:
            raise ProviderError(
                f"{document.url} is being fetched by another request, which has not finished "
                f"within {_fetching_mark_seconds()} s."
            )
        _pause()


# --- the documents --------------------------------------------------------------------------


def metadata_url(issuer: str) -> str:
    """Where the metadata of ``issuer`` is (OpenID Connect Discovery 1.0, section 4): its
    identifier without a trailing ``/``, then ``/.well-known/openid-configuration``."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def provider_metadata(issuer: str) -> dict[str, Any]:
    """The discovery document of ``issuer``, whose ``issuer`` must be exactly that."""

    def validate(metadata: dict[str, Any]) -> None:
        if metadata.get("issuer") != issuer:
            raise ProviderError(
                f"The discovery document of {issuer} names the issuer "
                f"{metadata.get('issuer')!r}; they must match exactly."
            )

    document = _Document("metadata", issuer, metadata_url(issuer), METADATA_CACHE_SECONDS, validate)
    return _cached_or_fetched(document)


def _validate_jwks(url: str) -> Callable[[dict[str, Any]], None]:
    def validate(jwks: dict[str, Any]) -> None:
        if not isinstance(jwks.get("keys"), list):
            raise ProviderError(f"{url} is not a JSON Web Key Set (no keys list).")

    return validate


def _select_key(jwks: dict[str, Any], kid: str | None, algorithm: str) -> jwt.PyJWK | None:
    for candidate in jwks.get("keys", []):
        if not isinstance(candidate, dict) or candidate.get("use", "sig") != "sig":
            continue
        if kid is not None and candidate.get("kid") != kid:
            continue
        if candidate.get("alg", algorithm) != algorithm:
            continue
        try:
            return jwt.PyJWK(candidate, algorithm=algorithm)
        except (jwt.PyJWKError, jwt.InvalidKeyError):
            continue  # A key of another type (EC for RS256, ...): not this token's key.
    return None


def signing_key(
    jwks_uri: str, kid: str | None, algorithm: str, guard: Callable[[str], None] | None = None
) -> jwt.PyJWK:
    """The key of ``jwks_uri`` that signed a token with header ``kid`` and ``alg``; ``guard``
    (given the URL) raises before a fetch when the URL must not be fetched."""
    document = _Document(
        "jwks",
        jwks_uri,
        jwks_uri,
        JWKS_CACHE_SECONDS,
        _validate_jwks(jwks_uri),
        refetch_floor=True,
        guard=guard,
    )
    found = _select_key(_cached_or_fetched(document), kid, algorithm)
    # A key id not in the cached set may be a rotation: fetch again, at most once a floor.
    if found is None and _cache().add(document.key("-fetched"), True, JWKS_MIN_REFETCH_SECONDS):
        found = _select_key(_fetch_and_remember(document), kid, algorithm)
    if found is None:
        raise KeyNotFound(f"No {algorithm} key with kid {kid!r} in {jwks_uri}.")
    return found
