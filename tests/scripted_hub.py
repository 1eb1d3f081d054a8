"""A hub for client-mode tests: a real HTTP server on loopback that answers
``GET /sso/api/organizations/`` with the document a test sets, versioned as the hub versions it
(the SHA-256 of the canonical JSON as a strong ``ETag``, ``304`` for a matching
``If-None-Match``), or with the error a test scripts, or not at all once closed.

It stands in for a hub whose answers a real hub would never send (hostile, malformed); the
example project's tests (``tests/example/test_policy_sync.py``) mirror a real one.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

from tests.loopback import IncomingRequest, LoopbackServer, Reply, json_reply

CREDENTIAL = "lsso_0123456789abcdef01_client-mode-tests"


def hub_organization(hub_id: int, slug: str, **fields: Any) -> dict[str, Any]:
    """An organization as ``GET /sso/api/organizations/`` answers it; ``policy`` fields may be
    given as ``policy={...}`` (merged into the defaults)."""
    policy = {
        "federated_logout": False,
        "slo_mode": "short_lived_tokens",
        "session_ttl": 300,
        "post_logout_redirect_uris": [],
        **fields.pop("policy", {}),
    }
    return {
        "id": hub_id,
        "name": slug.capitalize(),
        "slug": slug,
        "idp_organization_id": f"org_{slug}",
        "connection": "",
        "auto_forward": False,
        "email_domains": [f"{slug}.example"],
        "admin_url": f"https://hub.example.com/admin/logout_sso/organization/{hub_id}/change/",
        "updated_at": "2026-12-01T10:00:00+00:00",
        "policy": policy,
        **fields,
    }


def canonical(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class ScriptedHub:
    """Answers the organizations endpoint with :attr:`organizations` (or :attr:`document`, a
    whole body as it is, when set), or :attr:`error` (a :class:`Reply`) when set. Records the
    ``If-None-Match`` of each request. Thread-safe enough for tests: set, then sync."""

    def __init__(self) -> None:
        self.organizations: list[dict[str, Any]] = []
        self.document: Any = None
        self.error: Reply | None = None
        self.if_none_match: list[str] = []
        self._lock = threading.Lock()
        self._server = LoopbackServer(self._respond)
        self.api_url = f"{self._server.url}/sso/api/"

    def body(self) -> bytes:
        document = {"organizations": self.organizations} if self.document is None else self.document
        return canonical(document)

    @property
    def etag(self) -> str:
        return f'"{hashlib.sha256(self.body()).hexdigest()}"'

    def _respond(self, request: IncomingRequest) -> Reply:
        with self._lock:
            self.if_none_match.append(request.headers.get("If-None-Match", ""))
        if request.path != "/sso/api/organizations/":
            return json_reply({"error": "not_found", "error_description": "No such path."}, 404)
        if request.headers.get("Authorization") != f"Bearer {CREDENTIAL}":
            return json_reply({"error": "invalid_token", "error_description": "Unknown."}, 401)
        if self.error is not None:
            return self.error
        etag = self.etag
        if request.headers.get("If-None-Match") == etag:
            return Reply(304, (("ETag", etag),))
        return Reply(200, (("Content-Type", "application/json"), ("ETag", etag)), self.body())

    def settings(self, **extra: Any) -> dict[str, Any]:
        """``LOGOUT_SSO`` of a client of this hub."""
        return {"HUB_URL": self.api_url, "HUB_API_CREDENTIAL": CREDENTIAL, **extra}

    def close(self) -> None:
        """From now on, the hub cannot be reached."""
        self._server.close()
