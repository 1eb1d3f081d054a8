"""OpenID provider metadata (discovery documents) and JSON Web Key Sets, from the shared cache.

Both are fetched over HTTP at most once per cache lifetime by the whole deployment; a JWKS is
fetched again when a token names a key id it lacks (key rotation), but no more often than
``JWKS_MIN_REFETCH_SECONDS``, so forged key ids cannot make the app hammer the IdP.
"""

from __future__ import annotations

import hashlib
from typing import Any

import jwt
import requests
from django.core.cache import caches

from logout_sso.conf import app_settings

METADATA_CACHE_SECONDS = 60 * 60
JWKS_CACHE_SECONDS = 60 * 60
JWKS_MIN_REFETCH_SECONDS = 30
HTTP_TIMEOUT_SECONDS = (3.05, 5)


class ProviderError(Exception):
    """The provider's metadata or keys could not be had, or are not what they must be."""


class KeyNotFound(ProviderError):
    """The provider's key set has no key for that key id and algorithm."""


def _cache_key(kind: str, url: str) -> str:
    return f"logout_sso:{kind}:v1:{hashlib.sha256(url.encode()).hexdigest()}"


def _get_json(url: str) -> dict[str, Any]:
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT_SECONDS, allow_redirects=False)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderError(f"Cannot read {url}: {exc}") from exc
    if not isinstance(document, dict):
        raise ProviderError(f"{url} did not answer a JSON object.")
    return document


def provider_metadata(issuer: str) -> dict[str, Any]:
    """The discovery document of ``issuer``, whose ``issuer`` must be exactly that."""
    cache = caches[app_settings.CACHE_ALIAS]
    key = _cache_key("metadata", issuer)
    metadata: dict[str, Any] | None = cache.get(key)
    if metadata is None:
        metadata = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if metadata.get("issuer") != issuer:
            raise ProviderError(
                f"The discovery document of {issuer} names the issuer "
                f"{metadata.get('issuer')!r}; they must match exactly."
            )
        cache.set(key, metadata, METADATA_CACHE_SECONDS)
    return metadata


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


def signing_key(jwks_uri: str, kid: str | None, algorithm: str) -> jwt.PyJWK:
    """The key of ``jwks_uri`` that signed a token with header ``kid`` and ``alg``."""
    cache = caches[app_settings.CACHE_ALIAS]
    key = _cache_key("jwks", jwks_uri)
    refetch_floor = _cache_key("jwks-fetched", jwks_uri)
    jwks: dict[str, Any] | None = cache.get(key)
    found = None if jwks is None else _select_key(jwks, kid, algorithm)
    # A key id not in the cached set may be a rotation: fetch again, at most once a floor.
    if jwks is None or (found is None and cache.add(refetch_floor, True, JWKS_MIN_REFETCH_SECONDS)):
        jwks = _get_json(jwks_uri)
        if not isinstance(jwks.get("keys"), list):
            raise ProviderError(f"{jwks_uri} is not a JSON Web Key Set (no keys list).")
        cache.set(key, jwks, JWKS_CACHE_SECONDS)
        cache.set(refetch_floor, True, JWKS_MIN_REFETCH_SECONDS)
        found = _select_key(jwks, kid, algorithm)
    if found is None:
        raise KeyNotFound(f"No {algorithm} key with kid {kid!r} in {jwks_uri}.")
    return found
