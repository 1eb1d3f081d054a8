"""The hub's session API, for applications: ``Authorization: Bearer <application credential>``.

- ``POST /sso/api/sessions/``: register a session (201 new, 200 already registered).
- ``DELETE /sso/api/sessions/<session_id>/``: the session ended in the application (204).
- ``POST /sso/api/logouts/``: report a logout; the hub fans it out (202; 200 when no
  application holds a session of that user, and nothing is recorded).
- ``GET /sso/api/logouts/<event>/``: an event the application reported or received a
  delivery of, with the deliveries it may see.

Errors are JSON ``{"error": ..., "error_description": ...}``: 400 bad input, 401 no or bad
credential, 403 an organization the application does not serve (or none of that name: the two
answer alike), 404 unknown, 405, 413 body too large, 415 not JSON, 429 a limit reached (with
``Retry-After``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from logout_sso.conf import app_settings
from logout_sso.hub import quotas
from logout_sso.hub.outbox import has_live_sessions, record_logout
from logout_sso.models import Application, Delivery, LogoutEvent, Organization, TrackedSession
from logout_sso.models.events import Initiator
from logout_sso.models.sessions import EndReason
from logout_sso.validators import is_plain_text

MAX_BODY_BYTES = 16 * 1024
MAX_FIELD_LENGTH = 255
MAX_ISSUER_LENGTH = 500
MAX_EMAIL_LENGTH = 254  # TrackedSession.email (RFC 5321's limit)
#: The largest primary key a database holds (BigAutoField); a larger id names nothing.
MAX_ID = 2**63 - 1


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


def text(
    body: dict[str, Any], name: str, *, required: bool = False, max_length: int = MAX_FIELD_LENGTH
) -> str:
    """The string member ``name`` of the body ("" when absent or null)."""
    value = body.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > max_length:
        raise ApiError(
            400, "invalid_request", f"{name} must be a string of at most {max_length} characters."
        )
    if not is_plain_text(value):
        raise ApiError(
            400,
            "invalid_request",
            f"{name} must be printable text (no control characters, NUL or lone surrogates).",
        )
    if required and not value:
        raise ApiError(400, "invalid_request", f"{name} is required.")
    return value


def session_id_of(body: dict[str, Any]) -> str:
    """The application's id of the session: it is a path segment of the DELETE URL."""
    session_id = text(body, "session_id", required=True)
    if "/" in session_id or session_id in {".", ".."}:
        raise ApiError(
            400, "invalid_request", "session_id must not contain / nor be . or .. (a URL segment)."
        )
    return session_id


def email_of(body: dict[str, Any]) -> str:
    email = text(body, "email", max_length=MAX_EMAIL_LENGTH)
    if email:
        try:
            validate_email(email)
        except ValidationError as exc:
            raise ApiError(400, "invalid_request", "email must be an email address.") from exc
    return email


def expiry_of(body: dict[str, Any]) -> datetime:
    """When the session ends at the latest: the application's ``expires_at``, never later
    than ``TRACKED_SESSION_MAX_AGE`` from now (nor without one)."""
    latest = timezone.now() + timedelta(seconds=app_settings.TRACKED_SESSION_MAX_AGE)
    if body.get("expires_at") is None:
        return latest
    try:
        expires_at = parse_datetime(text(body, "expires_at"))
        if expires_at is None or expires_at.tzinfo is None:
            raise ValueError("no time zone")
        expires_at = expires_at.astimezone(UTC)  # Out of range once in UTC: OverflowError.
    except (ValueError, OverflowError) as exc:
        raise ApiError(
            400, "invalid_request", "expires_at must be an ISO 8601 time with zone, in range."
        ) from exc
    return min(expires_at, latest)


def organization_of(application: Application, identifier: str) -> Organization:
    """The organization named by slug or IdP id, which the application must serve. An
    organization it does not serve and one that does not exist answer alike."""
    organization = Organization.objects.by_identifier(identifier)
    if organization is None or not application.organizations.filter(pk=organization.pk).exists():
        raise ApiError(
            403, "forbidden", f"This application serves no organization named {identifier!r}."
        )
    return organization


def default_organization(application: Application) -> Organization:
    organizations = list(application.organizations.all()[:2])
    if len(organizations) != 1:
        raise ApiError(
            400, "invalid_request", "organization is required: this application serves several."
        )
    return organizations[0]


def issuer_of(body: dict[str, Any]) -> str:
    issuer = text(body, "issuer", max_length=MAX_ISSUER_LENGTH)
    issuer = issuer or getattr(settings, "OIDC_OP_ISSUER", "") or ""
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
    session_id = session_id_of(body)
    issuer, sub = issuer_of(body), text(body, "sub", required=True)
    fields = {"sid": text(body, "sid"), "email": email_of(body), "expires_at": expiry_of(body)}
    organization = organization_of(application, text(body, "organization", required=True))
    known = TrackedSession.objects.filter(application=application, session_id=session_id)
    session = known.select_related("organization").first()
    if session is not None:
        return JsonResponse(session_json(session), status=200)
    quotas.admit_session(application, issuer=issuer, sub=sub)
    try:
        with transaction.atomic():
            session = TrackedSession.objects.create(
                application=application,
                session_id=session_id,
                organization=organization,
                issuer=issuer,
                sub=sub,
                **fields,
            )
    except IntegrityError:  # Registered at the same moment by a retry of the same call.
        return JsonResponse(session_json(known.get()), status=200)
    quotas.session_admitted(application)
    return JsonResponse(session_json(session), status=201)


def remove_session(request: HttpRequest, application: Application, session_id: str) -> HttpResponse:
    session = None
    if is_plain_text(session_id):
        session = TrackedSession.objects.filter(
            application=application, session_id=session_id
        ).first()
    if session is None:
        raise ApiError(404, "not_found", f"No session {session_id!r} of this application.")
    TrackedSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(
        ended_at=timezone.now(), end_reason=EndReason.REMOVED
    )
    return HttpResponse(status=204)


def report_logout(request: HttpRequest, application: Application) -> JsonResponse:
    quotas.admit_logout_report(application)
    body = json_body(request)
    sub, sid, issuer = text(body, "sub"), text(body, "sid"), issuer_of(body)
    if not sub and not sid:
        raise ApiError(400, "invalid_request", "Send sub, sid or both.")
    identifier = text(body, "organization")
    organization = (
        organization_of(application, identifier)
        if identifier
        else default_organization(application)
    )
    if not has_live_sessions(issuer=issuer, sub=sub, sid=sid, organization=organization):
        return JsonResponse({"event": None, "deliveries": 0}, status=200)
    event = record_logout(
        initiator=Initiator.API,
        issuer=issuer,
        sub=sub,
        sid=sid,
        organization=organization,
        initiated_by_application=application,
    )
    return JsonResponse({"event": event.pk, "deliveries": event.deliveries.count()}, status=202)


def delivery_json(delivery: Delivery, application: Application) -> dict[str, Any]:
    """A delivery as ``application`` may see it: another application's error and session id
    are that application's business (``null``)."""
    own = delivery.application_id == application.pk
    return {
        "application": delivery.application.name,
        "sid": (delivery.token_sid or None) if own else None,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error if own else None,
        "latency_ms": delivery.latency_ms,
    }


def read_logout(request: HttpRequest, application: Application, event_id: str) -> JsonResponse:
    """The event, to the application that reported it (every delivery) or that received a
    delivery of it (its own): any other answers as an unknown event does."""
    event = None
    if event_id.isascii() and event_id.isdigit() and int(event_id) <= MAX_ID:
        event = LogoutEvent.objects.select_related("organization").filter(pk=int(event_id)).first()
    deliveries = (
        event.deliveries.select_related("application", "event").order_by("application__name")
        if event is not None
        else Delivery.objects.none()
    )
    reported = event is not None and event.initiated_by_application_id == application.pk
    if not reported:
        deliveries = deliveries.filter(application=application)
    if event is None or not (reported or deliveries):
        raise ApiError(404, "not_found", f"No logout event {event_id} of this application.")
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
            "deliveries": [delivery_json(delivery, application) for delivery in deliveries],
        }
    )


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any other path under the API: a JSON 404, as for an unknown object."""
    return ApiError(
        404, "not_found", "No such endpoint of the session API (its paths end with /)."
    ).response()


sessions = api_view({"POST": register_session})
session = api_view({"DELETE": remove_session})
logouts = api_view({"POST": report_logout})
logout = api_view({"GET": read_logout})
