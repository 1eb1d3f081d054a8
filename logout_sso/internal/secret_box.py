"""Secrets logout_sso must send again later (a transmitter's management credential), kept
encrypted: Fernet (AES-128-CBC and HMAC-SHA256, from ``cryptography``) under a key derived
from ``SECRET_KEY`` by HKDF-SHA256; what was sealed under a key of ``SECRET_KEY_FALLBACKS``
still opens, so rotating ``SECRET_KEY`` as Django documents keeps them readable.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

__all__ = ["SecretUnreadable", "seal", "unseal"]

#: Binds the derived key to this use: another use of SECRET_KEY derives another key.
INFO = b"logout_sso secret box v1"


class SecretUnreadable(Exception):
    """A sealed secret no key opens (``SECRET_KEY`` changed without a fallback)."""


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def _box() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet(key) for key in keys])


def seal(secret: str) -> str:
    """``secret``, encrypted and authenticated, as text to store."""
    return _box().encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str:
    """The secret ``sealed`` holds; :class:`SecretUnreadable` when no key opens it."""
    try:
        return _box().decrypt(sealed.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "The stored secret cannot be read: SECRET_KEY changed and the old one is not in "
            "SECRET_KEY_FALLBACKS. Set the secret again."
        ) from exc
