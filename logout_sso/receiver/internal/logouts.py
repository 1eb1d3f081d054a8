"""What a valid logout token does: end the sessions, record it, tell whoever listens.

All of it happens in one transaction with the record of the token (``LogoutEvent.token_id``,
unique): a replayed token is refused there, and when anything fails (the session store, a
listener such as the hub's fan-out) nothing is recorded, so the sender's retransmission of the
same token is acted on.

The logout is recorded under the organization of the sessions it ended. When it ended none (the
user had logged out here already: the IdP tells every application afterwards), the organization
is the one that recent logouts and the hub's tracked sessions of that IdP session (or user) name,
if they name exactly one: organizations are tenants that distrust each other, so the record is
never put under one of several on a guess.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from logout_sso.internal import metrics
from logout_sso.internal.session_index import end_session_keys, matching_sessions
from logout_sso.models import LogoutEvent, TrackedSession
from logout_sso.models.events import Initiator, Outcome
from logout_sso.receiver.internal.tokens import InvalidLogoutToken, LogoutToken, Refusal
from logout_sso.signals import logout_recorded, sessions_terminated

#: How far back a logout of the same IdP session (or user) tells the organization of a logout
#: that ended no session here.
RECENT_LOGOUT = timedelta(days=1)


def end_sessions_of(token: LogoutToken) -> LogoutEvent:
    """End every local session the token names and record the logout; raise
    :class:`InvalidLogoutToken` when the token was already acted on."""
    try:
        with transaction.atomic():
            return _act_on(token)
    except IntegrityError as exc:
        if LogoutEvent.objects.filter(token_id=token.token_id).exists():
            raise InvalidLogoutToken(
                "This logout token was already used (jti replayed).", Refusal.REPLAYED
            ) from exc
        raise


def known_organization(issuer: str, *, sid: str, sub: str) -> int | None:
    """The organization of that IdP session (``sid``), or without one of that user (``sub``)
    at ``issuer``, when exactly one is named by the logouts recorded in the last
    ``RECENT_LOGOUT`` and the hub's tracked sessions, ended or not; else None."""
    same = {"issuer": issuer, **({"sid": sid} if sid else {"sub": sub})}
    recent = LogoutEvent.objects.filter(
        **same, organization__isnull=False, created_at__gte=timezone.now() - RECENT_LOGOUT
    )
    named = {
        *_two_organizations(recent),
        *_two_organizations(TrackedSession.objects.filter(**same)),
    }
    return named.pop() if len(named) == 1 else None


def _two_organizations(rows: QuerySet[Any]) -> list[int]:
    """At most two of the organizations ``rows`` name: enough to tell one from several."""
    return list(rows.order_by().values_list("organization_id", flat=True).distinct()[:2])


def _act_on(token: LogoutToken) -> LogoutEvent:
    entries = matching_sessions(token.issuer, sid=token.sid, sub=token.sub)
    ended = list(entries.select_for_update().values_list("session_key", "organization_id"))
    organizations = {organization_id for _, organization_id in ended}
    if ended:
        organization_id = organizations.pop() if len(organizations) == 1 else None
    else:
        organization_id = known_organization(token.issuer, sid=token.sid, sub=token.sub)
    # Written first: a concurrent copy of the token waits here, then is refused.
    event = LogoutEvent.objects.create(
        organization_id=organization_id,
        initiator=Initiator.IDP_BACKCHANNEL,
        issuer=token.issuer,
        sub=token.sub,
        sid=token.sid,
        token_id=token.token_id,
        sessions_ended=len(ended),
        outcome=Outcome.COMPLETED,
        completed_at=timezone.now(),
    )
    metrics.logouts_recorded(Initiator.IDP_BACKCHANNEL)
    end_session_keys([session_key for session_key, _ in ended])
    sessions_terminated.send(
        sender=LogoutEvent, issuer=token.issuer, sub=token.sub, sid=token.sid, count=len(ended)
    )
    logout_recorded.send(sender=LogoutEvent, event=event, session_key=None)
    return event
