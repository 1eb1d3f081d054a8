"""Where a user is signed in: the organizations, and the issuers, holding a live session of
theirs, in an application (the hub's tracked sessions) or in this project (the session index).

A user is named by subject (``sub``) or by email; an email is known only from the sessions
applications registered with one (the session index keeps no email).
"""

from __future__ import annotations

from django.db.models import QuerySet

from logout_sso.models import LocalSession, Organization, TrackedSession


def is_email(user: str) -> bool:
    """Whether an operator's name for a user is an email rather than a subject."""
    return "@" in user


def where_signed_in(
    user: str, *, issuer: str | None = None, organization: Organization | None = None
) -> dict[Organization, list[str]]:
    """The organizations holding a live session of ``user`` (a subject, or an email: see
    :func:`is_email`), each with the issuers of those sessions, in order; only at ``issuer``
    and in ``organization`` when given. Three queries at most, whatever the sessions."""
    tracked = TrackedSession.objects.live().order_by()
    local: QuerySet[LocalSession] | None = None
    if is_email(user):
        tracked = tracked.filter(email__iexact=user)
    else:
        tracked, local = tracked.filter(sub=user), LocalSession.objects.filter(sub=user)
    if issuer is not None:
        tracked = tracked.filter(issuer=issuer)
        local = None if local is None else local.filter(issuer=issuer)
    if organization is not None:
        tracked = tracked.filter(organization=organization)
        local = None if local is None else local.filter(organization=organization)
    pairs = set(tracked.values_list("organization_id", "issuer").distinct())
    if local is not None:
        pairs |= set(local.values_list("organization_id", "issuer").distinct())
    organizations = Organization.objects.in_bulk({organization_id for organization_id, _ in pairs})
    found: dict[Organization, list[str]] = {}
    for organization_id, at in sorted(
        pairs, key=lambda pair: (organizations[pair[0]].slug, pair[1])
    ):
        found.setdefault(organizations[organization_id], []).append(at)
    return found
