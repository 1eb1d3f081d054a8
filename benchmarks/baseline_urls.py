"""The URLconf of the hub under a WSGI server (benchmarks/test_hub_under_wsgi_server.py only):
the tests' project, and two ways other logout services send back-channel logouts, served by
the same gunicorn as the hub's session API so that the three are measured side by side.

- ``POST /baseline/sequential/``: one application after another, each token signed and POSTed
  with ``requests.post`` before the next (Keycloak's way).
- ``POST /baseline/parallel/``: every token signed and POSTed at once, from a pool of threads
  (node-oidc-provider's and Duende IdentityServer's way).

Each takes what ``POST /sso/api/logouts/`` takes (an application's credential, ``{"sub": ...}``),
reads the user's live tracked sessions in the application's organization, marks them ended,
signs one logout token per application with the hub's signer and key, and answers once every
application has answered: ``{"deliveries": n, "delivered": k}``. The caller waits for the slowest.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import NamedTuple

import requests
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone

from logout_sso.hub.internal.api_fields import default_organization, issuer_of, text
from logout_sso.hub.internal.api_protocol import api_view, json_body
from logout_sso.hub.internal.outbox import live_sessions
from logout_sso.hub.internal.tokens import LogoutTokenSigner, current_signer
from logout_sso.models import Application, TrackedSession
from logout_sso.models.tracked_sessions import EndReason
from tests.urls import urlpatterns as test_urlpatterns

#: At most this many POSTs at once: the benchmark's largest N. Kept by the process, as a
#: service keeps its pool (or Node.js its event loop) from one logout to the next.
POOL = ThreadPoolExecutor(max_workers=100, thread_name_prefix="baseline")
TIMEOUT_SECONDS = 10


class Logout(NamedTuple):
    """A back-channel logout to send: where, and the token's claims."""

    uri: str
    audience: str
    sub: str
    sid: str


def logouts_of(request: HttpRequest, application: Application) -> list[Logout]:
    """One logout per live tracked session of the user the request names (in the reporting
    application's organization); the sessions are marked ended."""
    body = json_body(request)
    organization = default_organization(application)
    sessions = live_sessions(
        issuer_of(body),
        sub=text(body, "sub", required=True),
        sid="",
        organization_ids=[organization.pk],
    )
    with transaction.atomic():
        rows = list(
            sessions.values_list(
                "pk", "application__backchannel_logout_uri", "application__client_id", "sub", "sid"
            )
        )
        TrackedSession.objects.filter(pk__in=[pk for pk, *_ in rows]).update(
            ended_at=timezone.now(), end_reason=EndReason.LOGOUT
        )
    return [Logout(*logout) for _, *logout in rows]


def send(signer: LogoutTokenSigner, logout: Logout) -> bool:
    """Sign and POST one logout token; whether the application answered 200."""
    token = signer.sign(audience=logout.audience, sub=logout.sub, sid=logout.sid)
    response = requests.post(logout.uri, data={"logout_token": token}, timeout=TIMEOUT_SECONDS)
    return response.status_code == 200


def one_after_another(send_one: Callable[[Logout], bool], logouts: list[Logout]) -> int:
    return sum(send_one(logout) for logout in logouts)


def all_at_once(send_one: Callable[[Logout], bool], logouts: list[Logout]) -> int:
    return sum(POOL.map(send_one, logouts))


def baseline(
    send_all: Callable[[Callable[[Logout], bool], list[Logout]], int],
) -> Callable[[HttpRequest, Application], JsonResponse]:
    """A session API handler that sends the user's logouts with ``send_all``."""

    def handler(request: HttpRequest, application: Application) -> JsonResponse:
        logouts = logouts_of(request, application)
        delivered = send_all(partial(send, current_signer()), logouts)
        return JsonResponse({"deliveries": len(logouts), "delivered": delivered})

    return handler


urlpatterns = [
    *test_urlpatterns,
    path("baseline/sequential/", api_view({"POST": baseline(one_after_another)})),
    path("baseline/parallel/", api_view({"POST": baseline(all_at_once)})),
]
