"""Ending the local session of the user making a request, and recording it."""

from __future__ import annotations

from django.contrib import auth
from django.http import HttpRequest
from django.utils import timezone

from logout_sso.internal import metrics
from logout_sso.internal.session_index import unindex_session
from logout_sso.models import LogoutEvent, Organization
from logout_sso.models.events import Outcome
from logout_sso.rp.internal.state import SignedIn
from logout_sso.signals import logout_recorded


def end_local_session(request: HttpRequest, initiator: str) -> SignedIn | None:
    """Log the user out of this project, drop the session from the index, and record a
    :class:`LogoutEvent` when they had signed in through OpenID Connect. Returns what the
    session knew of that sign-in (for the IdP logout), or None."""
    signed_in = SignedIn.load(request.session)
    session_key = request.session.session_key
    user = request.user if request.user.is_authenticated else None
    auth.logout(request)
    unindex_session(session_key)
    if signed_in is None:
        return None
    now = timezone.now()
    organization_exists = Organization.objects.filter(pk=signed_in.organization_id).exists()
    event = LogoutEvent.objects.create(
        # None when the organization was deleted since the user signed in.
        organization_id=signed_in.organization_id if organization_exists else None,
        initiator=initiator,
        initiated_by_user=user,
        issuer=signed_in.issuer,
        sub=signed_in.sub,
        sid=signed_in.sid,
        sessions_ended=1,
        outcome=Outcome.COMPLETED,
        completed_at=now,
    )
    metrics.logouts_recorded(initiator)
    logout_recorded.send(sender=LogoutEvent, event=event, session_key=session_key)
    return signed_in
