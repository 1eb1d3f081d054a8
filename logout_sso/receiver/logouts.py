"""What a valid logout token does: end the sessions, record it, tell whoever listens."""

from __future__ import annotations

from django.utils import timezone

from logout_sso.models import LogoutEvent
from logout_sso.models.events import Initiator, Outcome
from logout_sso.receiver.tokens import LogoutToken
from logout_sso.sessions import end_indexed, matching_sessions
from logout_sso.signals import logout_recorded, sessions_terminated


def end_sessions_of(token: LogoutToken) -> LogoutEvent:
    """End every local session the token names and record the logout."""
    entries = matching_sessions(token.issuer, sid=token.sid, sub=token.sub)
    organizations = set(entries.values_list("organization_id", flat=True))
    count = end_indexed(entries)
    now = timezone.now()
    event = LogoutEvent.objects.create(
        organization_id=organizations.pop() if len(organizations) == 1 else None,
        initiator=Initiator.IDP_BACKCHANNEL,
        issuer=token.issuer,
        sub=token.sub,
        sid=token.sid,
        sessions_ended=count,
        outcome=Outcome.COMPLETED,
        completed_at=now,
    )
    sessions_terminated.send(
        sender=LogoutEvent, issuer=token.issuer, sub=token.sub, sid=token.sid, count=count
    )
    logout_recorded.send(sender=LogoutEvent, event=event, session_key=None)
    return event
