"""The session API's fields: each read from a JSON body, checked, or refused with an
:class:`~logout_sso.hub.internal.api_protocol.ApiError` (400, or 403 for an organization)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from logout_sso.conf import app_settings
from logout_sso.hub.internal.api_protocol import ApiError
from logout_sso.internal.validators import is_plain_text
from logout_sso.models import Application, Organization

MAX_FIELD_LENGTH = 255
MAX_ISSUER_LENGTH = 500
MAX_EMAIL_LENGTH = 254  # TrackedSession.email (RFC 5321's limit)


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
