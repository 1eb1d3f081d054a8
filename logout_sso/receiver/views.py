"""``POST /sso/backchannel-logout/``: OpenID Connect Back-Channel Logout 1.0, section 2.5-2.8."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from django.core.exceptions import BadRequest, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import View

from logout_sso.internal import metrics
from logout_sso.internal.discovery import ProviderError, RecentFetchFailure
from logout_sso.internal.untrusted import printable
from logout_sso.receiver.internal.logouts import end_sessions_of
from logout_sso.receiver.internal.tokens import InvalidLogoutToken, Refusal, validate

__all__ = ["BackchannelLogoutView"]

logger = logging.getLogger(__name__)

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
#: Logout tokens are a few hundred bytes to a few kilobytes; anything far larger is refused
#: before it is read.
MAX_BODY_BYTES = 16 * 1024


def error(status: int, code: str, description: str) -> JsonResponse:
    response = JsonResponse({"error": code, "error_description": description}, status=status)
    response["Cache-Control"] = "no-cache, no-store"
    return response


@method_decorator(csrf_exempt, name="dispatch")
class BackchannelLogoutView(View):
    """The IdP (or a logout_sso hub) POSTs a signed logout token; every local session of its
    ``sid``, or of its ``sub`` at that issuer, ends. 200 on success (also when the sessions
    were already gone), 400 with a JSON error for any invalid token, 503 when the issuer's keys
    cannot be fetched."""

    http_method_names = ["post"]

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = error(405, "invalid_request", "Send the logout token with POST.")
        response["Allow"] = "POST"
        return response

    def post(self, request: HttpRequest) -> HttpResponse:
        token = self.logout_token(request)
        if isinstance(token, HttpResponse):
            metrics.backchannel_token_received(Refusal.INVALID_REQUEST)
            return token
        try:
            end_sessions_of(validate(token))
        except InvalidLogoutToken as exc:
            logger.info("Back-channel logout refused: %s", printable(str(exc)))
            metrics.backchannel_token_received(exc.reason)
            return error(400, "invalid_request", str(exc))
        except ProviderError as exc:
            logger.warning(
                "Back-channel logout: the issuer's keys are unavailable: %s", printable(str(exc))
            )
            metrics.backchannel_token_received(Refusal.KEYS_UNAVAILABLE)
            unavailable = error(
                503, "temporarily_unavailable", "The issuer's keys cannot be fetched."
            )
            if isinstance(exc, RecentFetchFailure):
                unavailable["Retry-After"] = str(max(1, math.ceil(exc.retry_at - time.time())))
            return unavailable
        metrics.backchannel_token_received(None)
        response = HttpResponse(status=200)
        response["Cache-Control"] = "no-cache, no-store"
        return response

    def logout_token(self, request: HttpRequest) -> str | JsonResponse:
        """The one ``logout_token`` of a form-encoded body, or the error that answers a
        request without it."""
        if request.content_type != FORM_CONTENT_TYPE:
            return error(415, "invalid_request", f"The body must be {FORM_CONTENT_TYPE}.")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error(400, "invalid_request", "Invalid Content-Length.")
        if length > MAX_BODY_BYTES or len(request.body) > MAX_BODY_BYTES:
            return error(413, "invalid_request", f"The body exceeds {MAX_BODY_BYTES} bytes.")
        try:
            tokens = request.POST.getlist("logout_token")
        except (BadRequest, TooManyFieldsSent) as exc:  # Not UTF-8; over 1,000 fields.
            return error(400, "invalid_request", str(exc))
        if len(tokens) != 1:
            return error(400, "invalid_request", "Send exactly one logout_token parameter.")
        return tokens[0]
