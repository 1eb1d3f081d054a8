"""The session index: (issuer, sid | sub) -> Django session keys, and ending those sessions.

Written after login (``auth.login()`` rotates the session key, so the key is only known then),
removed at logout. Ending sessions costs one indexed query plus one delete per session of that
user: never a scan of the session table. Works with every server-side session engine (db,
cache, cached_db, django-redis), since it goes through the engine's own ``SessionStore``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.db.models import Q, QuerySet

from logout_sso.internal.user_ranges import UserKey
from logout_sso.models import LocalSession


def _session_store(session_key: str) -> SessionBase:
    engine = import_module(settings.SESSION_ENGINE)
    store: SessionBase = engine.SessionStore(session_key)
    return store


def index_session(
    session_key: str, *, issuer: str, sub: str, sid: str, organization_id: int
) -> None:
    """Record (or update) which user and IdP session a Django session belongs to."""
    LocalSession.objects.update_or_create(
        session_key=session_key,
        defaults={"issuer": issuer, "sub": sub, "sid": sid, "organization_id": organization_id},
    )


def unindex_session(session_key: str | None) -> None:
    """Forget a session that ended locally (logout)."""
    if session_key:
        LocalSession.objects.filter(session_key=session_key).delete()


def matching_sessions(
    issuer: str,
    *,
    sid: str = "",
    sub: str = "",
    organization_ids: Iterable[int | None] | None = None,
) -> QuerySet[LocalSession]:
    """The indexed sessions of that IdP session (``sid``) or, with ``sub`` alone, of every
    session of that user at that issuer; only in those organizations, when given."""
    if not sid and not sub:
        raise ValueError("A logout names a sid or a sub.")
    entries = LocalSession.objects.filter(issuer=issuer)
    entries = entries.filter(sid=sid) if sid else entries.filter(sub=sub)
    if sid and sub:
        entries = entries.filter(sub=sub)
    if organization_ids is not None:
        entries = entries.filter(organization_id__in=list(organization_ids))
    return entries


def end_sessions(
    issuer: str,
    *,
    sid: str = "",
    sub: str = "",
    organization_ids: Iterable[int | None] | None = None,
) -> int:
    """End the :func:`matching_sessions`; return how many were indexed. Ending a session
    already gone counts too: the outcome the caller wanted holds."""
    return end_indexed(
        matching_sessions(issuer, sid=sid, sub=sub, organization_ids=organization_ids)
    )


def end_sessions_of_users(
    organization_id: int, users: Collection[UserKey], within: Q
) -> Counter[UserKey]:
    """End the sessions of these users in the organization (``within``: a condition on
    issuer and sub that holds for them all, e.g. their range, so that one indexed query finds
    them); return how many each had."""
    entries = LocalSession.objects.filter(within, organization_id=organization_id)
    with transaction.atomic():
        rows = [
            (key, (issuer, sub))
            for key, issuer, sub in entries.select_for_update().values_list(
                "session_key", "issuer", "sub"
            )
            if (issuer, sub) in users
        ]
        end_session_keys([key for key, _ in rows])
    return Counter(user for _, user in rows)


def end_organization_sessions(organization_id: int) -> int:
    """End every local session of the organization's users (it is being deleted)."""
    return end_indexed(LocalSession.objects.filter(organization_id=organization_id))


def end_indexed(entries: QuerySet[LocalSession]) -> int:
    """End the sessions of these index entries and drop the entries; return how many. Within
    a caller's transaction (a logout's), no savepoint of its own: two round trips fewer to the
    database, and an error here undoes the caller's work anyway."""
    with transaction.atomic(savepoint=False):
        keys = list(entries.select_for_update().values_list("session_key", flat=True))
        end_session_keys(keys)
    return len(keys)


def end_session_keys(keys: list[str]) -> None:
    """End these Django sessions and drop their index entries (lock them first)."""
    for key in keys:
        _session_store(key).delete()
    LocalSession.objects.filter(session_key__in=keys).delete()
