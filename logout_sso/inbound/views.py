"""The endpoints organizations' identity providers call (each organization its own URLs).

- ``POST <mount>/organizations/<slug>/global-token-revocation``: Universal Logout (Global Token
  Revocation). 204 when the user's logout has begun; 400 for a malformed body or an unsupported
  subject; 401 (with ``WWW-Authenticate: Bearer``) without a valid bearer JWT of one of the
  organization's Universal Logout sources, also for an organization that does not exist; 404
  when the subject names nobody of the organization; 503 when the source's keys cannot be
  fetched.
- ``POST <mount>/organizations/<slug>/ssf/events``: Shared Signals push delivery (RFC 8935).
  202 once the SET is accepted; 400 with ``{"err": ..., "description": ...}`` (RFC 8935
  section 2.4's codes, and ``invalid_state``) when refused; 503 when the keys cannot be
  fetched.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from logout_sso.inbound.internal import revocation, security_events
from logout_sso.inbound.internal.answers import REVOCATION_STATUS, set_error
from logout_sso.inbound.internal.sources import audience, enabled_sources
from logout_sso.inbound.internal.tokens import Refusal, SignalRefused
from logout_sso.internal import metrics
from logout_sso.internal.discovery import ProviderError, RecentFetchFailure
from logout_sso.internal.untrusted import printable
from logout_sso.models import SignalSource
from logout_sso.models.signal_sources import SignalKind

__all__ = ["GlobalTokenRevocationView", "SharedSignalsEventsView"]

logger = logging.getLogger(__name__)

#: A Universal Logout request body is a subject identifier: a few hundred bytes.
MAX_REQUEST_BYTES = 16 * 1024
#: A SET is a few kilobytes.
MAX_SET_BYTES = 64 * 1024
SET_CONTENT_TYPE = "application/secevent+jwt"
AUTHENTICATION_FAILED = "Send a JWT signed by this organization's Universal Logout source."


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _unavailable(exc: ProviderError, body: dict[str, str]) -> HttpResponse:
    response = JsonResponse(body, status=503)
    if isinstance(exc, RecentFetchFailure):
        response["Retry-After"] = str(max(1, math.ceil(exc.retry_at - time.time())))
    return _no_store(response)


def _body(request: HttpRequest, limit: int) -> bytes | None:
    """The request's body, or None when it is longer than ``limit`` bytes."""
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > limit:
        return None
    body = request.read(limit + 1)
    return None if len(body) > limit else body


class _SignalView(View):
    http_method_names = ["post"]
    kind: SignalKind

    def refused(self, organization: str, exc: SignalRefused) -> None:
        logger.info(
            "%s refused for organization %s (%s): %s",
            self.kind.value,
            printable(organization, limit=60),
            exc.reason.value,
            printable(str(exc), limit=300),
        )
        metrics.inbound_signal_received(self.kind.value, exc.reason)

    def keys_unavailable(self, organization: str, exc: ProviderError) -> None:
        logger.warning(
            "%s for organization %s: the source's keys are unavailable: %s",
            self.kind.value,
            printable(organization, limit=60),
            printable(str(exc), limit=300),
        )
        metrics.inbound_signal_received(self.kind.value, Refusal.KEYS_UNAVAILABLE)

    @staticmethod
    def expected_audience(request: HttpRequest) -> Callable[[SignalSource], str]:
        """A source's ``aud``: its own, or its endpoint's URL on the host this request came to."""
        return partial(audience, request=request)


@method_decorator(csrf_exempt, name="dispatch")
class GlobalTokenRevocationView(_SignalView):
    """Universal Logout: ``POST`` of ``{"sub_id": {...}}`` with a signed JWT bearer."""

    kind = SignalKind.UNIVERSAL_LOGOUT

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = JsonResponse({"error": "invalid_request"}, status=405)
        response["Allow"] = "POST"
        return response

    def post(self, request: HttpRequest, organization: str) -> HttpResponse:
        try:
            token = self.bearer(request)
            body = self.request_body(request)
            revocation.revoke(token, organization, body, self.expected_audience(request))
        except SignalRefused as exc:
            self.refused(organization, exc)
            return self.refusal(exc)
        except ProviderError as exc:
            self.keys_unavailable(organization, exc)
            return _unavailable(exc, {"error": "temporarily_unavailable"})
        metrics.inbound_signal_received(self.kind.value, None)
        return _no_store(HttpResponse(status=204))

    @staticmethod
    def bearer(request: HttpRequest) -> str:
        scheme, _, token = str(request.META.get("HTTP_AUTHORIZATION", "")).partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise SignalRefused("Send a signed JWT as a Bearer token.", Refusal.MISSING_CREDENTIAL)
        return token.strip()

    @staticmethod
    def request_body(request: HttpRequest) -> bytes:
        if request.content_type != "application/json":
            raise revocation.BadRequest("The body must be application/json.")
        body = _body(request, MAX_REQUEST_BYTES)
        if body is None:
            raise revocation.BadRequest(f"The body must be at most {MAX_REQUEST_BYTES} bytes.")
        return body

    @staticmethod
    def refusal(exc: SignalRefused) -> HttpResponse:
        status = REVOCATION_STATUS.get(exc.reason)
        if status is not None:
            return _no_store(
                JsonResponse(
                    {"error": exc.reason.value, "error_description": str(exc)}, status=status
                )
            )
        # One description for every authentication failure: an unknown organization, an
        # issuer it does not trust and a bad signature look alike (the log says which).
        response = JsonResponse(
            {"error": "invalid_token", "error_description": AUTHENTICATION_FAILED}, status=401
        )
        response["WWW-Authenticate"] = (
            "Bearer" if exc.reason == Refusal.MISSING_CREDENTIAL else 'Bearer error="invalid_token"'
        )
        return _no_store(response)


@method_decorator(csrf_exempt, name="dispatch")
class SharedSignalsEventsView(_SignalView):
    """Shared Signals push delivery (RFC 8935): ``POST`` of an ``application/secevent+jwt``."""

    kind = SignalKind.SHARED_SIGNALS

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = JsonResponse(
            {"err": "invalid_request", "description": "POST a SET."}, status=405
        )
        response["Allow"] = "POST"
        return response

    def post(self, request: HttpRequest, organization: str) -> HttpResponse:
        try:
            token = self.security_event_token(request)
            security_events.receive(
                token, enabled_sources(organization, self.kind), self.expected_audience(request)
            )
        except SignalRefused as exc:
            self.refused(organization, exc)
            return _no_store(
                JsonResponse({"err": set_error(exc.reason), "description": str(exc)}, status=400)
            )
        except ProviderError as exc:
            self.keys_unavailable(organization, exc)
            return _unavailable(
                exc, {"err": "temporarily_unavailable", "description": "Keys unavailable."}
            )
        metrics.inbound_signal_received(self.kind.value, None)
        return _no_store(HttpResponse(status=202))

    @staticmethod
    def security_event_token(request: HttpRequest) -> str:
        if (request.content_type or "").lower() != SET_CONTENT_TYPE:
            raise SignalRefused(
                f"The body must be one SET, as {SET_CONTENT_TYPE}.", Refusal.INVALID_REQUEST
            )
        body = _body(request, MAX_SET_BYTES)
        if body is None:
            raise SignalRefused(
                f"The SET must be at most {MAX_SET_BYTES} bytes.", Refusal.INVALID_REQUEST
            )
        try:
            return body.decode("ascii").strip()
        except UnicodeDecodeError as exc:
            raise SignalRefused("A SET is ASCII (a compact JWS).", Refusal.MALFORMED) from exc
