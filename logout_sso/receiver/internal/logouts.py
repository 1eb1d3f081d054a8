"""What a valid logout token does: end the sessions, record it, tell whoever listens.

All of it happens in one transaction with the record of the token (``LogoutEvent.token_id``,
unique): a replayed token is refused there, and when anything fails (the session store, a
listener such as the hub's fan-out) nothing is recorded, so the sender's retransmission of the
same token is acted on.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from logout_sso.internal.session_index import end_session_keys, matching_sessions
from logout_sso.models import LogoutEvent
from logout_sso.models.events import Initiator, Outcome
from logout_sso.receiver.internal.tokens import InvalidLogoutToken, LogoutToken
from logout_sso.signals import logout_recorded, sessions_terminated


def end_sessions_of(token: LogoutToken) -> LogoutEvent:
    """End every local session the token names and record the logout; raise
    :class:`InvalidLogoutToken` when the token was already acted on."""
    try:
        with transaction.atomic():
            return _act_on(token)
    except IntegrityError as exc:
        if LogoutEvent.objects.filter(token_id=token.token_id).exists():
            raise InvalidLogoutToken("This logout token was already used (jti replayed).") from exc
        raise


def _act_on(token: LogoutToken) -> LogoutEvent:
    entries = matching_sessions(token.issuer, sid=token.sid, sub=token.sub)
    ended = list(entries.select_for_update().values_list("session_key", "organization_id"))
    organizations = {organization_id for _, organization_id in ended}
    # Written first: a concurrent copy of the token waits here, then is refused.
    event = LogoutEvent.objects.create(
        organization_id=organizations.pop() if len(organizations) == 1 else None,
        initiator=Initiator.IDP_BACKCHANNEL,
        issuer=token.issuer,
        sub=token.sub,
        sid=token.sid,
        token_id=token.token_id,
        sessions_ended=len(ended),
        outcome=Outcome.COMPLETED,
        completed_at=timezone.now(),
    )
    end_session_keys([session_key for session_key, _ in ended])
    sessions_terminated.send(
        sender=LogoutEvent, issuer=token.issuer, sub=token.sub, sid=token.sid, count=len(ended)
    )
    logout_recorded.send(sender=LogoutEvent, event=event, session_key=None)
    return event
