"""A Shared Signals transmitter for the tests, built from OpenID Shared Signals Framework 1.0: a
real HTTP server on loopback with its configuration metadata at
``/.well-known/ssf-configuration`` (after the issuer's path, if any), its keys (``/jwks``, an
EC P-256 pair of its own), and the stream management API of section 8 (``/ssf/stream``: create,
read, update, delete; ``/ssf/status``; ``/ssf/verify``), each request checked for its bearer
token.

A verification request on a push stream is answered as a transmitter does: a verification SET
(RFC 8417, ``typ: secevent+jwt``, ``sub_id`` the stream, ``state`` echoed) signed and POSTed to
the stream's ``endpoint_url`` as ``application/secevent+jwt`` (RFC 8935), before the ``204``.

``scripted`` answers a path with a given reply instead (an error, a delay, a non-JSON body);
``requests`` keeps every request, ``pushed`` every SET delivered and how it was answered.
A plugin of the suite: the ``transmitter`` fixture.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from logout_sso.models.signal_sources import VERIFICATION
from tests.loopback import IncomingRequest, LoopbackServer, Reply, json_reply

TOKEN = "transmitter-management-token-7d1e"
PUSH = "urn:ietf:rfc:8935"
POLL = "urn:ietf:rfc:8936"
SUPPORTED = (
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
    "https://schemas.openid.net/secevent/risc/event-type/account-purged",
)
SET_TYPE = "application/secevent+jwt"


@dataclass(frozen=True)
class Pushed:
    """A SET the transmitter POSTed to a receiver, and the receiver's status (None: no answer)."""

    url: str
    content_type: str
    token: str
    status: int | None


class Transmitter:
    """The transmitter; its issuer is its URL followed by ``issuer_path``. ``one_stream``: a
    second stream for the receiver is refused with 409, as SSF allows."""

    def __init__(self, *, issuer_path: str = "", one_stream: bool = False) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = uuid.uuid4().hex[:8]
        self.one_stream = one_stream
        self.streams: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, str] = {}
        self.requests: list[IncomingRequest] = []
        self.pushed: list[Pushed] = []
        self.scripted: dict[str, Reply] = {}
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._answer)
        self.url = self.server.url
        self.issuer = self.url + issuer_path
        self.well_known = "/.well-known/ssf-configuration" + issuer_path.rstrip("/")

    def close(self) -> None:
        self.server.close()

    # --- what it publishes -------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        return {
            "spec_version": "1_0",
            "issuer": self.issuer,
            "jwks_uri": f"{self.url}/jwks",
            "delivery_methods_supported": [PUSH, POLL],
            "configuration_endpoint": f"{self.url}/ssf/stream",
            "status_endpoint": f"{self.url}/ssf/status",
            "verification_endpoint": f"{self.url}/ssf/verify",
            "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6750"}],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "ES256"}]}

    def requests_to(self, path: str, method: str | None = None) -> list[IncomingRequest]:
        return [r for r in self.requests if r.path == path and method in (None, r.method)]

    # --- the server --------------------------------------------------------------------

    def _answer(self, request: IncomingRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
        if request.path in self.scripted:
            return self.scripted[request.path]
        if request.path == self.well_known and request.method == "GET":
            return json_reply(self.metadata())
        if request.path == "/jwks":
            return json_reply(self.jwks())
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return json_reply({"error": "invalid_token", "error_description": "Bad token."}, 401)
        handler = {
            "/ssf/stream": self._stream,
            "/ssf/status": self._status,
            "/ssf/verify": self._verify,
        }.get(request.path)
        return handler(request) if handler else json_reply({"error": "not_found"}, 404)

    def _stream(self, request: IncomingRequest) -> Reply:
        query = {name: values[0] for name, values in parse_qs(request.query).items()}
        if request.method == "GET":
            if "stream_id" not in query:
                return json_reply(list(self.streams.values()))
            stream = self.streams.get(query["stream_id"])
            return json_reply(stream) if stream else json_reply({"error": "not_found"}, 404)
        if request.method == "DELETE":
            if self.streams.pop(query.get("stream_id", ""), None) is None:
                return json_reply({"error": "not_found"}, 404)
            return Reply(204)
        body = json.loads(request.body)
        if request.method == "POST":
            if self.one_stream and self.streams:
                return json_reply({"error": "conflict", "error_description": "One stream."}, 409)
            stream_id = uuid.uuid4().hex
            self.statuses[stream_id] = "enabled"
            return json_reply(self._configured(stream_id, body), 201)
        if request.method == "PATCH":
            stream = self.streams.get(body.get("stream_id", ""))
            if stream is None:
                return json_reply({"error": "not_found"}, 404)
            return json_reply(self._configured(stream["stream_id"], {**stream, **body}))
        return json_reply({"error": "method_not_allowed"}, 405)

    def _configured(self, stream_id: str, body: dict[str, Any]) -> dict[str, Any]:
        delivery = dict(body.get("delivery") or {"method": POLL})
        if delivery["method"] == POLL:
            delivery["endpoint_url"] = f"{self.url}/ssf/poll/{stream_id}"
        requested = list(body.get("events_requested", []))
        stream = {
            "stream_id": stream_id,
            "iss": self.issuer,
            "aud": delivery["endpoint_url"] if delivery["method"] == PUSH else "receiver",
            "delivery": delivery,
            "events_supported": list(SUPPORTED),
            "events_requested": requested,
            "events_delivered": [event for event in requested if event in SUPPORTED],
            "description": body.get("description", ""),
        }
        self.streams[stream_id] = stream
        return stream

    def _status(self, request: IncomingRequest) -> Reply:
        stream_id = parse_qs(request.query).get("stream_id", [""])[0]
        if stream_id not in self.streams:
            return json_reply({"error": "not_found"}, 404)
        return json_reply({"stream_id": stream_id, "status": self.statuses[stream_id]})

    def _verify(self, request: IncomingRequest) -> Reply:
        body = json.loads(request.body)
        stream = self.streams.get(body.get("stream_id", ""))
        if stream is None:
            return json_reply({"error": "not_found"}, 404)
        if stream["delivery"]["method"] == PUSH:
            self.push(stream, self.verification_set(stream, body.get("state")))
        return Reply(204)

    # --- delivery ----------------------------------------------------------------------

    def verification_set(self, stream: dict[str, Any], state: str | None) -> str:
        event = {} if state is None else {"state": state}
        claims = {
            "iss": self.issuer,
            "aud": stream["aud"],
            "iat": int(time.time()),
            "jti": uuid.uuid4().hex,
            "sub_id": {"format": "opaque", "id": stream["stream_id"]},
            "events": {VERIFICATION: event},
        }
        headers = {"typ": "secevent+jwt", "kid": self.kid}
        return jwt.encode(claims, self.key, algorithm="ES256", headers=headers)

    def push(self, stream: dict[str, Any], token: str) -> None:
        url = stream["delivery"]["endpoint_url"]
        status: int | None
        try:
            status = requests.post(
                url, data=token, headers={"Content-Type": SET_TYPE}, timeout=5
            ).status_code
        except requests.RequestException:
            status = None
        self.pushed.append(Pushed(url, SET_TYPE, token, status))


@pytest.fixture
def transmitter() -> Iterator[Transmitter]:
    """A Shared Signals transmitter on loopback (its issuer without a path)."""
    running = Transmitter()
    yield running
    running.close()
