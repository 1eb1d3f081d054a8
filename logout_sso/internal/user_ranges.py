"""Users in (issuer, sub) order: the ranges an organization-wide logout walks through."""

from __future__ import annotations

from django.db.models import Q

#: A user: the issuer that signed them in, and their subject there.
UserKey = tuple[str, str]


def after(user: UserKey | None) -> Q:
    """Rows of users after ``user`` in (issuer, sub) order (every row for None)."""
    if user is None:
        return Q()
    issuer, sub = user
    return Q(issuer__gt=issuer) | Q(issuer=issuer, sub__gt=sub)


def up_to(user: UserKey) -> Q:
    """Rows of ``user`` and of the users before them in (issuer, sub) order."""
    issuer, sub = user
    return Q(issuer__lt=issuer) | Q(issuer=issuer, sub__lte=sub)
