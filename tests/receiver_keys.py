"""Helpers for the back-channel logout receiver's tests (not tests themselves).

- :class:`KeyServer`: a real HTTP server on 127.0.0.1 publishing a JWKS (``/jwks``) and a
  discovery document (``/.well-known/openid-configuration``), counting requests per path; its
  keys can be swapped (rotation), it can answer 500, or be stopped (provider down).
- Signing keys of each kind an IdP uses (RSA, EC P-256, Ed25519), published with a ``kid`` and,
  like the OpenID Foundation conformance suite's JWKS, some without ``alg``.
- :func:`make_token`: a valid logout token by default, shaped like the conformance suite's (no
  ``typ``, an extra claim); overrides set any claim or header member, or delete it
  (:data:`DELETE`). Tokens are assembled here (not by PyJWT) so that any header, claim or
  algorithm, including ``none`` and HMAC with a public key, can be sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from tests.loopback import IncomingRequest, LoopbackServer, Reply, json_reply

AUDIENCE = "rp-client"
EVENT = "http://schemas.openid.net/event/backchannel-logout"
JWKS_PATH = "/jwks"
DISCOVERY_PATH = "/.well-known/openid-configuration"
TOKEN_LIFETIME = 120
#: How the receiver's tests trust the key server (``trust`` of ``tests/receiver/conftest.py``):
#: with these algorithms unless a test says otherwise, this clock skew and maximum token age.
ALL_ALGORITHMS = ("RS256", "ES256", "EdDSA")
SKEW = 60
MAX_AGE = 300


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


#: An override value that removes the claim or header member.
DELETE: Any = _Delete()

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class SigningKey:
    """A private key of the IdP, its ``kid``, the algorithm it signs with, and whether its
    published JWK says that ``alg``."""

    kid: str
    alg: str
    private: PrivateKey
    publish_alg: bool = True

    def jwk(self) -> dict[str, Any]:
        """The public JWK, as a JWKS publishes it."""
        public = self.private.public_key()
        jwk: dict[str, Any]
        if isinstance(public, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
        jwk = {**jwk, "kid": self.kid, "use": "sig"}
        if self.publish_alg:
            jwk["alg"] = self.alg
        return jwk

    def public_pem(self) -> bytes:
        """The public key in PEM, what an attacker turns into an HMAC secret."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def rsa_key(kid: str, *, publish_alg: bool = True) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(kid, "RS256", private, publish_alg)


def ec_key(kid: str, *, publish_alg: bool = True) -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()), publish_alg)


def ed25519_key(kid: str, *, publish_alg: bool = True) -> SigningKey:
    return SigningKey(kid, "EdDSA", ed25519.Ed25519PrivateKey.generate(), publish_alg)


# Generated once per test run: an RSA key takes tens of milliseconds.
RSA_KEY = rsa_key("rsa-1")
RSA_KEY_WITHOUT_ALG = rsa_key("rsa-2", publish_alg=False)
EC_KEY = ec_key("ec-1", publish_alg=False)
ED25519_KEY = ed25519_key("ed-1", publish_alg=False)
#: Not published by the server: signs forged tokens, or is served after a rotation.
OTHER_RSA_KEY = rsa_key("rsa-1")
ROTATED_RSA_KEY = rsa_key("rsa-rotated")
DEFAULT_KEYS = (RSA_KEY, RSA_KEY_WITHOUT_ALG, EC_KEY, ED25519_KEY)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _apply(base: dict[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    result = dict(base)
    for name, value in (overrides or {}).items():
        if value is DELETE:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def default_claims(issuer: str, now: float | None = None) -> dict[str, Any]:
    """The claims of a valid logout token for user A's first session."""
    now = int(time.time() if now is None else now)
    return {
        "iss": issuer,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + TOKEN_LIFETIME,
        "jti": uuid.uuid4().hex,
        "sid": "sid-a",
        "sub": "alice",
        "events": {EVENT: {}},
        "extra_claim": {"not": "understood"},  # claims not understood are ignored (2.4)
    }


HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def signature(signing_input: bytes, key: SigningKey, alg: Any) -> bytes:
    """What an attacker or a confused IdP would send for a header saying ``alg``: nothing for
    ``none``; HMAC keyed with the public key's PEM for ``HS*``; ``alg`` itself when it can sign
    with this key; else ``key.alg`` (the header then lies about how the token was signed)."""
    if alg == "none":
        return b""
    if isinstance(alg, str) and alg in HMAC_HASHES:
        return hmac.new(key.public_pem(), signing_input, HMAC_HASHES[alg]).digest()
    algorithms = jwt.algorithms.get_default_algorithms()
    if isinstance(alg, str) and alg in algorithms:
        try:
            return algorithms[alg].sign(signing_input, key.private)
        except (TypeError, ValueError, AttributeError):
            pass  # a key of another type (an RSA key for ES256, ...)
    return algorithms[key.alg].sign(signing_input, key.private)


def sign(header: Mapping[str, Any], claims: Mapping[str, Any], key: SigningKey, alg: Any) -> str:
    """``header.claims.signature``, signed by ``key`` as :func:`signature` says."""
    signing_input = f"{b64url(_json(header))}.{b64url(_json(claims))}"
    return f"{signing_input}.{b64url(signature(signing_input.encode(), key, alg))}"


def make_token(
    key: SigningKey,
    claims_overrides: Mapping[str, Any] | None = None,
    header_overrides: Mapping[str, Any] | None = None,
    *,
    issuer: str,
    alg: str | None = None,
) -> str:
    """A logout token signed by ``key`` (valid unless overridden). The header has ``alg`` and
    ``kid`` and, like the conformance suite's tokens, no ``typ``."""
    alg = alg or key.alg
    header = _apply({"alg": alg, "kid": key.kid}, header_overrides)
    claims = _apply(default_claims(issuer), claims_overrides)
    return sign(header, claims, key, header.get("alg", alg))


def unsigned_token(
    claims_overrides: Mapping[str, Any] | None = None, *, issuer: str, alg: str = "none"
) -> str:
    """``alg: none`` (or ``None``, ``NONE``, ...): the signature part is empty."""
    header = {"alg": alg, "kid": RSA_KEY.kid}
    claims = _apply(default_claims(issuer), claims_overrides)
    return f"{b64url(_json(header))}.{b64url(_json(claims))}."


def hmac_token(
    secret: bytes,
    claims_overrides: Mapping[str, Any] | None = None,
    *,
    issuer: str,
    kid: str = RSA_KEY.kid,
) -> str:
    """HS256 with ``secret`` (the algorithm-confusion attack: the RSA public key's PEM bytes).
    Signed here with hmac, since PyJWT refuses a PEM key as an HMAC secret."""
    header = {"alg": "HS256", "kid": kid}
    claims = _apply(default_claims(issuer), claims_overrides)
    signing_input = f"{b64url(_json(header))}.{b64url(_json(claims))}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


class KeyServer:
    """An OpenID provider's key endpoints on 127.0.0.1, in a daemon thread."""

    def __init__(self, *keys: SigningKey) -> None:
        self.status = 200
        self._jwks: dict[str, Any] = {"keys": [key.jwk() for key in keys or DEFAULT_KEYS]}
        self._server = LoopbackServer(self._respond)
        self.requests = self._server.requests
        self.issuer = self._server.url
        self.jwks_url = f"{self.issuer}{JWKS_PATH}"

    def _respond(self, request: IncomingRequest) -> Reply:
        document = self.document(request.path)
        if document is None:
            return Reply(404)
        return json_reply(document) if self.status == 200 else Reply(self.status)

    def document(self, path: str) -> Any:
        if path == JWKS_PATH:
            return self._jwks
        if path == DISCOVERY_PATH:
            return {"issuer": self.issuer, "jwks_uri": self.jwks_url}
        return None

    @property
    def jwks_fetches(self) -> int:
        return self.requests[JWKS_PATH]

    @property
    def discovery_fetches(self) -> int:
        return self.requests[DISCOVERY_PATH]

    def serve_keys(self, *keys: SigningKey) -> None:
        """Publish these keys from now on (a key rotation)."""
        self._jwks = {"keys": [key.jwk() for key in keys]}

    def serve_jwks_document(self, document: Any) -> None:
        """Publish anything at the JWKS URL (a JSON value, or raw bytes)."""
        self._jwks = document

    def fail_with(self, status: int) -> None:
        """Answer every request with this HTTP error status."""
        self.status = status

    def stop(self) -> None:
        """The provider is down: connections are refused from now on."""
        self._server.close()

    def token(
        self,
        claims_overrides: Mapping[str, Any] | None = None,
        header_overrides: Mapping[str, Any] | None = None,
        *,
        key: SigningKey = RSA_KEY,
        alg: str | None = None,
    ) -> str:
        """:func:`make_token` with this server as the issuer."""
        return make_token(key, claims_overrides, header_overrides, issuer=self.issuer, alg=alg)
