"""Private keys in PEM, as settings (``HUB_SIGNING_KEY``) and key files take them: the one
encoder every test uses, and the keys the hub's tests sign with."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes


def pkcs8_pem(key: PrivateKeyTypes, *, passphrase: bytes | None = None) -> str:
    """``key`` in PEM (PKCS#8), encrypted with ``passphrase`` if one is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if passphrase is None
        else serialization.BestAvailableEncryption(passphrase)
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


def rsa_private_key_pem() -> str:
    """A new RSA key (2048 bits) in PEM."""
    return pkcs8_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_private_key_pem() -> str:
    """A new EC P-256 key in PEM."""
    return pkcs8_pem(ec.generate_private_key(ec.SECP256R1()))
