"""API credentials of applications: generated at random, shown once, stored as a hash.

A credential is ``lsso_<id>_<secret>``: the id (public, indexed) finds the application, the
secret is checked against a SHA-256 digest in constant time. The secret carries 256 bits of
entropy, so a fast hash is as safe as a slow one and keeps every API call cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "lsso"
HEX_DIGITS = "0123456789abcdef"
ID_BYTES = 9
SECRET_BYTES = 32


@dataclass(frozen=True)
class NewCredential:
    """A freshly generated credential: give ``token`` to the application, store the rest."""

    key_id: str
    token: str
    digest: str


def digest_secret(secret: str) -> str:
    """The stored form of a credential's secret part."""
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_credential() -> NewCredential:
    """A new random credential."""
    key_id = secrets.token_hex(ID_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return NewCredential(
        key_id=key_id, token=f"{PREFIX}_{key_id}_{secret}", digest=digest_secret(secret)
    )


def split_credential(token: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a presented credential, or None if it is not one of ours (its
    id is lower-case hexadecimal: nothing else is ever looked up)."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not key_id or not secret or key_id.strip(HEX_DIGITS):
        return None
    return key_id, secret


def secret_matches(secret: str, digest: str) -> bool:
    """Constant-time comparison of a presented secret with a stored digest."""
    return hmac.compare_digest(digest_secret(secret), digest)
