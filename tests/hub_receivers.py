"""Helpers for the hub's tests: scripted back-channel logout receivers on loopback, the hub's
signing keys and settings, a server for its JWKS, token verification by two JOSE
implementations, a Celery worker process that runs with the hub's settings, and the
"go" messages of recorded logouts held back.

A plugin of the suite (``pytest_plugins`` of ``tests/conftest.py``): its fixtures are there for
every test that names them.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.test import RequestFactory, override_settings
from django.urls import resolve, reverse
from django.utils import timezone
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from pytest_django.fixtures import Settings as SettingsWrapper

from logout_sso import tasks
from logout_sso.models import Application, Delivery, Organization, TrackedSession
from logout_sso.receiver.internal.tokens import LogoutToken, validate
from tests.celery_app import app as celery_app
from tests.loopback import IncomingRequest, LoopbackServer, Reply, json_reply
from tests.pem import ec_private_key_pem, rsa_private_key_pem
from tests.services import database_name, free_port, running_worker, wait_for

HUB_ISSUER = "https://hub.example.com/"
IDP_ISSUER = "https://idp.example.com/"
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


# --- Receivers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """How a receiver answers one request: after ``delay`` seconds, ``status`` with
    ``headers`` and ``body``."""

    status: int = 200
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""


def slow(delay: float, status: int = 200) -> Answer:
    return Answer(status=status, delay=delay)


def too_many_requests(retry_after: str) -> Answer:
    return Answer(status=429, headers=(("Retry-After", retry_after),), body="slow down")


@dataclass(frozen=True)
class Received:
    """One request a receiver got."""

    at: float  # time.monotonic() when it arrived, before any scripted delay
    method: str
    path: str
    host: str  # the Host header
    content_type: str
    logout_tokens: tuple[str, ...]
    status: int  # what the receiver answered

    @property
    def logout_token(self) -> str:
        assert len(self.logout_tokens) == 1, self.logout_tokens
        return self.logout_tokens[0]


class Receiver:
    """An application's back-channel logout endpoint: a real threaded HTTP server on loopback.

    It answers request *n* with ``answers[n]`` (an :class:`Answer` or a bare status), the last
    one again once the script runs out, and records every request with its ``logout_token``.
    ``listening=False`` reserves a port without listening on it: the application is down until
    :meth:`start` (or :meth:`start_after`) brings it up. It listens on ``address`` (any of
    127.0.0.0/8), on ``port`` if given. Thread-safe.
    """

    def __init__(
        self,
        answers: Sequence[Answer | int] = (200,),
        *,
        listening: bool = True,
        address: str = "127.0.0.1",
        port: int = 0,
    ):
        self.address = address
        self._answers = [
            answer if isinstance(answer, Answer) else Answer(status=answer) for answer in answers
        ] or [Answer()]
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._server: LoopbackServer | None = None
        self._timer: threading.Timer | None = None
        self.started_at: float | None = None
        if listening:
            self._listen(port)
        else:
            self.port = port or free_port()

    def _listen(self, port: int) -> None:
        started_at = time.monotonic()  # Before any request can arrive.
        server = LoopbackServer(self._respond, address=self.address, port=port)
        self.port = server.port
        with self._lock:
            self._server = server
            self.started_at = started_at

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/backchannel-logout"

    def start(self) -> None:
        """Begin listening (on the reserved port) if not yet listening."""
        if self._server is None:
            self._listen(self.port)

    def start_after(self, seconds: float) -> None:
        """Come up ``seconds`` from now."""
        self._timer = threading.Timer(seconds, self.start)
        self._timer.daemon = True
        self._timer.start()

    def _respond(self, request: IncomingRequest) -> Reply:
        """Record one request and give the scripted answer to it."""
        arrived = time.monotonic()
        tokens = tuple(parse_qs(request.body.decode("utf-8", "replace")).get("logout_token", []))
        with self._lock:
            answer = self._answers[min(len(self._received), len(self._answers) - 1)]
            self._received.append(
                Received(
                    at=arrived,
                    method=request.method,
                    path=request.path,
                    host=request.headers.get("Host", ""),
                    content_type=request.headers.get("Content-Type", ""),
                    logout_tokens=tokens,
                    status=answer.status,
                )
            )
        headers = (*answer.headers, ("Content-Type", "text/plain; charset=utf-8"))
        return Reply(answer.status, headers, answer.body.encode(), answer.delay)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    @property
    def tokens(self) -> list[str]:
        return [request.logout_token for request in self.received]

    def wait_for_requests(self, count: int, timeout: float = 20) -> list[Received]:
        wait_for(
            lambda: len(self.received) >= count,
            timeout,
            f"{self.url} did not receive {count} request(s), only {len(self.received)}",
        )
        return self.received

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.close()


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    """A factory of :class:`Receiver`; every one is closed after the test."""
    made: list[Receiver] = []

    def make(answers: Sequence[Answer | int] = (200,), **options: Any) -> Receiver:
        receiver = Receiver(answers, **options)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


# --- A JSON document server (the hub's JWKS, as receivers fetch it) --------------------------


class JsonServer:
    """Serves whatever ``document()`` returns, as JSON, at any path; counts the requests."""

    def __init__(self, document: Callable[[], tuple[int, Any]]) -> None:
        self._document = document
        self._server = LoopbackServer(self._respond)
        self.url = f"{self._server.url}/sso/jwks/"

    def _respond(self, request: IncomingRequest) -> Reply:
        status, payload = self._document()
        return json_reply(payload, status)

    @property
    def requests(self) -> int:
        return self._server.requests.total()

    def close(self) -> None:
        self._server.close()


def hub_jwks_document() -> tuple[int, Any]:
    """What the hub's ``logout_sso:jwks`` view answers now."""
    path = reverse("logout_sso:jwks")
    response = resolve(path).func(RequestFactory().get(path))
    return response.status_code, json.loads(response.content)


@pytest.fixture
def hub_jwks() -> Iterator[JsonServer]:
    """The hub's JWKS view served over HTTP (live: it follows the settings of the moment), with
    the receivers' key cache emptied."""
    caches["default"].clear()
    server = JsonServer(hub_jwks_document)
    yield server
    server.close()
    caches["default"].clear()


# --- Keys and settings -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def hub_rsa_pem() -> str:
    """The hub's RSA signing key (PEM) for the test session."""
    return rsa_private_key_pem()


@pytest.fixture(scope="session")
def hub_ec_pem() -> str:
    """An EC P-256 signing key (PEM) for the test session."""
    return ec_private_key_pem()


def hub_logout_sso(pem: str, **extra: Any) -> dict[str, Any]:
    """``LOGOUT_SSO`` of a hub signing with ``pem`` that may send to loopback receivers."""
    return {
        "HUB_ISSUER": HUB_ISSUER,
        "HUB_SIGNING_KEY": pem,
        "DELIVERY_ALLOW_PRIVATE_ADDRESSES": True,
        **extra,
    }


@pytest.fixture
def hub_settings(settings: SettingsWrapper, hub_rsa_pem: str) -> SettingsWrapper:
    """This project is the hub: it signs with ``hub_rsa_pem`` and its users sign in at the
    IdP ``IDP_ISSUER``."""
    settings.LOGOUT_SSO = hub_logout_sso(hub_rsa_pem)
    settings.OIDC_OP_ISSUER = IDP_ISSUER
    return settings


# --- Verifying logout tokens -----------------------------------------------------------------


def trusted_hub(
    audience: str, jwks_uri: str, algorithms: Sequence[str] = ("RS256",)
) -> dict[str, Any]:
    """A ``TRUSTED_ISSUERS`` item of an application that trusts the hub."""
    return {
        "issuer": HUB_ISSUER,
        "jwks_uri": jwks_uri,
        "audience": audience,
        "algorithms": list(algorithms),
        "subject_issuer": IDP_ISSUER,
    }


@contextmanager
def as_receiver(
    audience: str, jwks_uri: str, algorithms: Sequence[str] = ("RS256",)
) -> Iterator[Callable[[str], LogoutToken]]:
    """Within: logout_sso's own receiver, configured as application ``audience`` trusting the
    hub whose keys are at ``jwks_uri`` (yields its ``validate``)."""
    current = dict(getattr(django_settings, "LOGOUT_SSO", {}))
    current["TRUSTED_ISSUERS"] = [trusted_hub(audience, jwks_uri, algorithms)]
    with override_settings(LOGOUT_SSO=current):
        yield validate


def validate_as_receiver(
    token: str, *, audience: str, jwks_uri: str, algorithms: Sequence[str] = ("RS256",)
) -> LogoutToken:
    """Validate ``token`` with logout_sso's own receiver, configured as application
    ``audience`` trusting the hub whose keys are at ``jwks_uri``."""
    with as_receiver(audience, jwks_uri, algorithms) as receive:
        return receive(token)


def decode_with_joserfc(
    token: str, jwks: dict[str, Any], *, audience: str, algorithms: Sequence[str] = ("RS256",)
) -> jose_jwt.Token:
    """Verify ``token`` with joserfc (a second JOSE implementation) against the key set."""
    decoded = jose_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=list(algorithms))  # type: ignore[arg-type]
    jose_jwt.JWTClaimsRegistry(
        leeway=60,
        iss={"essential": True, "value": HUB_ISSUER},
        aud={"essential": True, "value": audience},
        iat={"essential": True},
        exp={"essential": True},
        jti={"essential": True},
    ).validate(decoded.claims)
    return decoded


# --- Hub data --------------------------------------------------------------------------------


def hub_policy(organization: Organization, **fields: Any) -> Organization:
    """Put ``organization`` on the logout service, with quick retries (tests finish fast)."""
    fields = {
        "slo_mode": "logout_service",
        "delivery_backoff_seconds": 1,
        "delivery_backoff_max_seconds": 1,
        **fields,
    }
    policy = organization.logout_policy
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.save()
    return organization


def register_application(
    name: str, *organizations: Organization, uri: str = "", **fields: Any
) -> tuple[Application, str]:
    """An application of ``organizations`` and its API credential."""
    fields.setdefault("client_id", f"{name}-client")
    application, credential = Application.objects.create_with_credential(
        name=name, backchannel_logout_uri=uri, **fields
    )
    application.organizations.set(organizations)
    return application, credential


def track_session(
    application: Application,
    organization: Organization,
    sub: str,
    *,
    sid: str = "",
    session_id: str | None = None,
    expires_at: datetime | None = None,
) -> TrackedSession:
    """A live session of ``sub`` in ``application``, as the application registered it."""
    return TrackedSession.objects.create(
        application=application,
        organization=organization,
        issuer=IDP_ISSUER,
        sub=sub,
        sid=sid,
        session_id=session_id or f"{application.name}-{uuid.uuid4().hex[:8]}",
        expires_at=expires_at,
    )


@dataclass
class Tenants:
    acme: Organization
    globex: Organization
    wiki: Application  # acme's; the application calling the API in most tests
    wiki_credential: str
    billing: Application  # acme's
    billing_credential: str
    crm: Application  # globex's
    crm_credential: str


# --- The "go" messages of recorded logouts ----------------------------------------------------


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The events whose delivery was queued (``deliver_event.delay``), instead of sending (no
    broker needed). The task itself is replaced, not its ``delay``: the task's name resolves
    to the current Celery app's task, and a live server's thread has another current app once
    a test imported the example project's."""
    events: list[int] = []
    stand_in = SimpleNamespace(delay=lambda event_id, claim="": events.append(event_id))
    monkeypatch.setattr(tasks, "deliver_event", stand_in)
    return events


def claims_run_out(claims: list[str]) -> None:
    """Time passes until the leases of these claims are over (nobody renewed them)."""
    Delivery.objects.filter(claim__in=claims).update(next_attempt_at=timezone.now())


@contextmanager
def messages_lost(monkeypatch: pytest.MonkeyPatch, *, run_out: bool = True) -> Iterator[list[str]]:
    """Within: the "go" messages of recorded logouts never reach any worker (yields the claims
    they carried); on leaving, those claims' leases are over, unless not ``run_out``."""
    claims: list[str] = []
    with monkeypatch.context() as patch:
        patch.setattr(tasks.deliver_event, "delay", lambda event_id, claim: claims.append(claim))
        yield claims
    if run_out:
        claims_run_out(claims)


# --- A Celery worker with the hub's settings -------------------------------------------------


@dataclass(frozen=True)
class HubWorker:
    name: str
    queue: str


@pytest.fixture(scope="module")
def hub_worker_process(
    django_db_setup: None,
    django_db_blocker: Any,
    redis_url: str,
    hub_rsa_pem: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[HubWorker]:
    """A real Celery worker process on Redis and the test database whose settings are those
    of ``hub_settings``, for a test module. Tests use ``hub_worker``."""
    overrides = {"LOGOUT_SSO": hub_logout_sso(hub_rsa_pem), "OIDC_OP_ISSUER": IDP_ISSUER}
    with running_worker(
        redis_url,
        database_name(django_db_blocker),
        tmp_path_factory.mktemp("hub-worker"),
        overrides,
    ) as name:
        yield HubWorker(name=name, queue=celery_app.conf.task_default_queue)


@pytest.fixture
def hub_worker(hub_worker_process: HubWorker) -> HubWorker:
    """The hub's worker, with the tests' Celery app current and routing to it:
    ``deliver_event.delay()`` goes to it, and so do the retries it queues itself. Tests using
    it must commit their data: ``@pytest.mark.django_db(transaction=True)``."""
    celery_app.set_current()
    celery_app.conf.task_default_queue = hub_worker_process.queue
    return hub_worker_process
