"""The hub's signing keys: an active one that signs, inactive ones still published.

Keys come from settings (``LOGOUT_SSO["HUB_SIGNING_KEY"]`` and
``["HUB_SIGNING_KEYS_INACTIVE"]``, PEM), never from the database and never logged. To rotate:
publish the new key as inactive, wait for receivers' JWKS caches to expire, make it active and
the old one inactive, later drop the old one. Key ids are RFC 7638 thumbprints.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.exceptions import ImproperlyConfigured
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from logout_sso.conf import app_settings

# RFC 7638, 3.2: the members of the thumbprint, by key type.
THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private_key: Any
    public_jwk: dict[str, str]


def thumbprint(jwk: dict[str, str]) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url)."""
    members = {name: jwk[name] for name in THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


@lru_cache(maxsize=16)
def load_key(pem: str, setting: str = "HUB_SIGNING_KEY") -> SigningKey:
    """Parse a PEM private key (RSA: RS256; EC P-256: ES256). Cached: parsing costs ms."""
    try:
        private_key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ImproperlyConfigured(
            f'LOGOUT_SSO["{setting}"] is not a readable, unencrypted PEM private key: {exc}'
        ) from exc
    jwk: dict[str, str]
    if isinstance(private_key, rsa.RSAPrivateKey):
        algorithm = "RS256"
        jwk = dict(RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True))
    elif isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(
        private_key.curve, ec.SECP256R1
    ):
        algorithm = "ES256"
        jwk = dict(ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True))
    else:
        raise ImproperlyConfigured(
            f'LOGOUT_SSO["{setting}"]: hub signing keys must be RSA or EC P-256 private keys.'
        )
    kid = thumbprint(jwk)
    return SigningKey(
        kid=kid,
        algorithm=algorithm,
        private_key=private_key,
        public_jwk={**jwk, "kid": kid, "alg": algorithm, "use": "sig"},
    )


def active_key() -> SigningKey:
    pem = app_settings.HUB_SIGNING_KEY
    if pem is None:
        raise ImproperlyConfigured(
            'Set LOGOUT_SSO["HUB_SIGNING_KEY"] (a PEM private key) for the hub to sign logout '
            "tokens."
        )
    return load_key(pem)


def published_jwks() -> dict[str, list[dict[str, str]]]:
    """The public keys of the active and inactive signing keys."""
    active = app_settings.HUB_SIGNING_KEY
    keys = [load_key(active)] if active else []
    keys += [
        load_key(pem, "HUB_SIGNING_KEYS_INACTIVE") for pem in app_settings.HUB_SIGNING_KEYS_INACTIVE
    ]
    return {"keys": [key.public_jwk for key in keys]}
