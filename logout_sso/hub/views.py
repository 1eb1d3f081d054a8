"""The hub's HTTP endpoints: the session API for applications
(``Authorization: Bearer <application credential>``) and the JWKS for receivers.

- ``POST /sso/api/sessions/``: register a session (201 new, 200 already registered).
- ``DELETE /sso/api/sessions/<session_id>/``: the session ended in the application (204).
- ``POST /sso/api/logouts/``: report a logout; the hub fans it out (202; 200 when no
  application holds a session of that user, and nothing is recorded).
- ``GET /sso/api/logouts/<event>/``: an event the application reported or received a
  delivery of, with the deliveries it may see.
- ``GET /sso/api/organizations/``: the organizations the application serves, with their
  policies (``ETag``; ``304`` for a matching ``If-None-Match``), which client mode mirrors.
- ``GET /sso/jwks/``: the hub's public signing keys.
- ``GET /sso/.well-known/openid-configuration``: the hub's issuer metadata, where receivers
  discover its keys from its issuer (:mod:`logout_sso.hub.internal.metadata`).

Errors and limits: :mod:`logout_sso.hub.internal.api_protocol`.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from logout_sso import api
from logout_sso.hub.internal import organization_feed, quotas
from logout_sso.hub.internal.api_fields import (
    default_organization,
    email_of,
    expiry_of,
    issuer_of,
    organization_of,
    session_id_of,
    text,
)
from logout_sso.hub.internal.api_protocol import ApiError, api_view, json_body
from logout_sso.hub.internal.keys import published_jwks
from logout_sso.hub.internal.metadata import hub_metadata
from logout_sso.internal.validators import is_plain_text
from logout_sso.models import Application, Delivery, LogoutEvent, TrackedSession
from logout_sso.models.tracked_sessions import EndReason

__all__ = [
    "jwks",
    "logout",
    "logouts",
    "not_found",
    "openid_configuration",
    "organizations",
    "session",
    "sessions",
]

#: The largest primary key a database holds (BigAutoField); a larger id names nothing.
MAX_ID = 2**63 - 1
#: Receivers cache the JWKS; a new key is published (inactive) longer than this before use.
JWKS_MAX_AGE_SECONDS = 300


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
    event = api.log_out_user(
        organization,
        initiator=api.Initiator.API,
        issuer=issuer,
        sub=sub,
        sid=sid,
        by_application=application,
    )
    if event is None:
        return JsonResponse({"event": None, "deliveries": 0}, status=200)
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


def list_organizations(request: HttpRequest, application: Application) -> HttpResponse:
    """The organizations ``application`` serves, with their policies; 304 when the client's
    ``If-None-Match`` names this version. Private to the credential: never cached by a proxy,
    revalidated by the client each time."""
    body = organization_feed.answer(request, application)
    etag = organization_feed.etag_of(body)
    if organization_feed.none_match(request.headers.get("If-None-Match", ""), etag):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    response["Vary"] = "Authorization"
    return response


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
organizations = api_view({"GET": list_organizations, "HEAD": list_organizations})


@require_safe
def jwks(request: HttpRequest) -> JsonResponse:
    """``GET /sso/jwks/``: the public keys of the hub's signing keys, active and inactive."""
    response = JsonResponse(published_jwks())
    response["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE_SECONDS}"
    response["Content-Type"] = "application/jwk-set+json"
    return response


@require_safe
def openid_configuration(request: HttpRequest) -> JsonResponse:
    """``GET /sso/.well-known/openid-configuration``: the hub's issuer metadata (``issuer``,
    ``jwks_uri``, back-channel logout support), cached like the JWKS; a JSON 404 where this
    project is no hub."""
    namespace = request.resolver_match.namespace if request.resolver_match else None
    document = hub_metadata(reverse("logout_sso:jwks", current_app=namespace))
    if document is None:
        return ApiError(
            404, "not_found", "This project is no logout service (no HUB_ISSUER or signing key)."
        ).response()
    response = JsonResponse(document)
    response["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE_SECONDS}"
    return response
