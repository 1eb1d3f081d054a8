"""The hub's session API, for applications: ``Authorization: Bearer <application credential>``.

- ``POST /sso/api/sessions/``: register a session (201 new, 200 already registered).
- ``DELETE /sso/api/sessions/<session_id>/``: the session ended in the application (204).
- ``POST /sso/api/logouts/``: report a logout; the hub fans it out (202).
- ``GET /sso/api/logouts/<event>/``: the event and each delivery.

Errors are JSON ``{"error": ..., "error_description": ...}``: 400 bad input, 401 no or bad
credential, 403 another tenant's organization, 404 unknown, 405, 413 body too large, 415 not JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from logout_sso.hub.outbox import record_logout
from logout_sso.models import Application, LogoutEvent, Organization, TrackedSession
from logout_sso.models.events import Initiator
from logout_sso.models.sessions import EndReason

MAX_BODY_BYTES = 16 * 1024
MAX_FIELD_LENGTH = 255


class ApiError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def response(self) -> JsonResponse:
        response = JsonResponse(
            {"error": self.error, "error_description": self.description}, status=self.status
        )
        if self.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="logout_sso"'
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
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The body must be a JSON object.")
    return body


def text(body: dict[str, Any], name: str, *, required: bool = False) -> str:
    value = body.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > MAX_FIELD_LENGTH:
        raise ApiError(
            400, "invalid_request", f"{name} must be a string of at most 255 characters."
        )
    if required and not value:
        raise ApiError(400, "invalid_request", f"{name} is required.")
    return value


def organization_of(application: Application, identifier: str) -> Organization:
    """The organization named by slug or IdP id, which the application must belong to."""
    organization = Organization.objects.filter(
        Q(slug=identifier) | Q(idp_organization_id=identifier)
    ).first()
    if organization is None:
        raise ApiError(400, "invalid_request", f"Unknown organization {identifier!r}.")
    if not application.organizations.filter(pk=organization.pk).exists():
        raise ApiError(403, "forbidden", f"This application does not serve {identifier!r}.")
    return organization


def default_organization(application: Application) -> Organization:
    organizations = list(application.organizations.all()[:2])
    if len(organizations) != 1:
        raise ApiError(
            400, "invalid_request", "organization is required: this application serves several."
        )
    return organizations[0]


def issuer_of(body: dict[str, Any]) -> str:
    issuer = text(body, "issuer") or getattr(settings, "OIDC_OP_ISSUER", "") or ""
    if not issuer:
        raise ApiError(400, "invalid_request", "issuer is required (no OIDC_OP_ISSUER here).")
    return str(issuer)


def session_json(session: TrackedSession) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        "sub": session.sub,
        "sid": session.sid,
        "issuer": session.issuer,
        "organization": session.organization.slug,
        "created_at": session.created_at.isoformat(),
        "expires_at": session.expires_at.isoformat() if session.expires_at else None,
        "ended_at": session.ended_at.isoformat() if session.ended_at else None,
    }


def register_session(request: HttpRequest, application: Application) -> JsonResponse:
    body = json_body(request)
    expires_at = None
    if body.get("expires_at") is not None:
        try:
            expires_at = parse_datetime(text(body, "expires_at"))
        except ValueError:  # Well formed but impossible, such as February 30.
            expires_at = None
        if expires_at is None or expires_at.tzinfo is None:
            raise ApiError(400, "invalid_request", "expires_at must be an ISO 8601 time with zone.")
    session, created = TrackedSession.objects.get_or_create(
        application=application,
        session_id=text(body, "session_id", required=True),
        defaults={
            "organization": organization_of(application, text(body, "organization", required=True)),
            "issuer": issuer_of(body),
            "sub": text(body, "sub", required=True),
            "sid": text(body, "sid"),
            "email": text(body, "email"),
            "expires_at": expires_at,
        },
    )
    return JsonResponse(session_json(session), status=201 if created else 200)


def remove_session(request: HttpRequest, application: Application, session_id: str) -> HttpResponse:
    session = TrackedSession.objects.filter(application=application, session_id=session_id).first()
    if session is None:
        raise ApiError(404, "not_found", f"No session {session_id!r} of this application.")
    TrackedSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(
        ended_at=timezone.now(), end_reason=EndReason.REMOVED
    )
    return HttpResponse(status=204)


def report_logout(request: HttpRequest, application: Application) -> JsonResponse:
    body = json_body(request)
    sub, sid = text(body, "sub"), text(body, "sid")
    if not sub and not sid:
        raise ApiError(400, "invalid_request", "Send sub, sid or both.")
    identifier = text(body, "organization")
    organization = (
        organization_of(application, identifier)
        if identifier
        else default_organization(application)
    )
    event = record_logout(
        initiator=Initiator.API,
        issuer=issuer_of(body),
        sub=sub,
        sid=sid,
        organization=organization,
        initiated_by_application=application,
    )
    return JsonResponse({"event": event.pk, "deliveries": event.deliveries.count()}, status=202)


def read_logout(request: HttpRequest, application: Application, event_id: int) -> JsonResponse:
    event = LogoutEvent.objects.filter(
        pk=event_id, organization__in=application.organizations.all()
    ).first()
    if event is None:
        raise ApiError(404, "not_found", f"No logout event {event_id} of your organizations.")
    deliveries = event.deliveries.select_related("application").order_by("application__name")
    return JsonResponse(
        {
            "event": event.pk,
            "initiator": event.initiator,
            "organization": event.organization.slug if event.organization else None,
            "sub": event.sub,
            "sid": event.sid,
            "outcome": event.outcome,
            "created_at": event.created_at.isoformat(),
            "completed_at": event.completed_at.isoformat() if event.completed_at else None,
            "deliveries": [
                {
                    "application": delivery.application.name,
                    "sid": delivery.token_sid or None,
                    "state": delivery.state,
                    "attempts": delivery.attempts,
                    "last_status": delivery.last_status,
                    "last_error": delivery.last_error,
                    "latency_ms": delivery.latency_ms,
                }
                for delivery in deliveries
            ],
        }
    )


sessions = api_view({"POST": register_session})
session = api_view({"DELETE": remove_session})
logouts = api_view({"POST": report_logout})
logout = api_view({"GET": read_logout})
