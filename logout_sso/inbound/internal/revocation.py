"""Universal Logout: a Global Token Revocation request (draft-parecki-oauth-global-token-
revocation) from an organization's identity provider, authenticated by a JWT it signed.

The request is ``POST`` of ``{"sub_id": <subject identifier>}`` as ``application/json``; the
bearer JWT is checked by :func:`~logout_sso.inbound.internal.tokens.verify` (``exp`` required,
``aud`` the source's ``audience`` or the endpoint's URL), its ``jti`` recorded once, and every
user of the organization the subject names is logged out (``Initiator.UNIVERSAL_LOGOUT``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.db import transaction

from logout_sso.inbound.internal import effects, subjects
from logout_sso.inbound.internal.sources import enabled_sources
from logout_sso.inbound.internal.tokens import Refusal, SignalRefused, verify
from logout_sso.models import LogoutEvent, SignalSource
from logout_sso.models.events import Initiator
from logout_sso.models.signal_sources import SignalKind


class BadRequest(SignalRefused):
    """The request's body is not what the endpoint takes (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, Refusal.INVALID_REQUEST)


def subject_of(body: bytes) -> dict[str, Any]:
    """The ``sub_id`` object of the request's JSON body."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("The body must be a JSON object.") from exc
    if not isinstance(document, dict) or not isinstance(document.get("sub_id"), dict):
        raise BadRequest('The body must be a JSON object with a "sub_id" object.')
    sub_id: dict[str, Any] = document["sub_id"]
    return sub_id


def revoke(
    token: str,
    organization_slug: str,
    body: bytes,
    audience: Callable[[SignalSource], str],
) -> list[LogoutEvent]:
    """Act on one request; :class:`SignalRefused` (``reason`` saying which answer) when it must
    be refused, ``USER_NOT_FOUND`` when the subject names nobody of the organization."""
    verified = verify(
        token,
        enabled_sources(organization_slug, SignalKind.UNIVERSAL_LOGOUT),
        audience,
        security_event=False,
    )
    subject = subject_of(body)
    source = verified.source
    with transaction.atomic():
        effects.record_once(source, verified.jti)
        users = subjects.resolve(source.organization, subject)
        if not users:
            raise SignalRefused(
                "No user of this organization has that subject.", Refusal.USER_NOT_FOUND
            )
        return effects.log_out(source, users, Initiator.UNIVERSAL_LOGOUT)
