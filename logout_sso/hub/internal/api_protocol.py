"""The session API's protocol: bearer credentials, JSON bodies, errors as JSON.

Errors are ``{"error": ..., "error_description": ...}``: 400 bad input, 401 no or bad
credential, 403 an organization the application does not serve (or none of that name: the two
answer alike), 404 unknown, 405, 413 body too large, 415 not JSON, 429 a limit reached (with
``Retry-After``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from logout_sso.hub.internal import quotas
from logout_sso.models import Application

MAX_BODY_BYTES = 16 * 1024


class ApiError(Exception):
    def __init__(
        self, status: int, error: str, description: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description
        self.retry_after = retry_after

    def response(self) -> JsonResponse:
        response = JsonResponse(
            {"error": self.error, "error_description": self.description}, status=self.status
        )
        if self.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="logout_sso"'
        if self.retry_after is not None:
            response["Retry-After"] = str(self.retry_after)
        return response


Handler = Callable[..., HttpResponse]


def api_view(methods: dict[str, Callable[..., HttpResponse]]) -> Handler:
    """A CSRF-exempt JSON view: method dispatch, credential check, errors as JSON."""

    @csrf_exempt
    @wraps(next(iter(methods.values())))
    def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        try:
            handler = methods.get(request.method or "")
            if handler is None:
                error = ApiError(405, "invalid_request", f"Use {', '.join(methods)}.")
                response = error.response()
                response["Allow"] = ", ".join(methods)
                return response
            return handler(request, authenticate(request), **kwargs)
        except ApiError as error:
            return error.response()
        except quotas.LimitReached as limit:
            return ApiError(
                429, "rate_limited", limit.description, retry_after=limit.retry_after
            ).response()

    return view


def authenticate(request: HttpRequest) -> Application:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "invalid_token", "Send Authorization: Bearer <application credential>.")
    application = Application.authenticate(token.strip())
    if application is None:
        raise ApiError(401, "invalid_token", "The credential is unknown, rotated or disabled.")
    return application


def json_body(request: HttpRequest) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ApiError(415, "invalid_request", "The body must be application/json.")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError as exc:
        raise ApiError(400, "invalid_request", "Invalid Content-Length.") from exc
    if length > MAX_BODY_BYTES or len(request.body) > MAX_BODY_BYTES:
        raise ApiError(413, "invalid_request", f"The body exceeds {MAX_BODY_BYTES} bytes.")
    try:
        body = json.loads(request.body)
    except ValueError as exc:
        raise ApiError(400, "invalid_request", f"The body is not valid JSON: {exc}.") from exc
    except RecursionError as exc:
        raise ApiError(400, "invalid_request", "The body is nested too deeply.") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The body must be a JSON object.")
    return body
