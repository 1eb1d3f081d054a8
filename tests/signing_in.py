"""Signing a test client in as if through the OpenID provider (no provider needed)."""

from __future__ import annotations

import time

from django.contrib.auth.models import User
from django.test import Client

from logout_sso.internal.session_index import index_session
from logout_sso.models import Organization
from logout_sso.rp.internal.state import SignedIn

ISSUER = "https://idp.example.com/"


def sign_in_through_idp(
    client: Client,
    organization: Organization,
    *,
    username: str = "alice",
    issuer: str = ISSUER,
    sub: str = "u1",
    sid: str = "s1",
    checked_at: float | None = None,
) -> str:
    """Log ``client`` in, keep what the callback keeps in the session (checked now, unless
    ``checked_at``) and index the session, as a real sign-in does; return the session key."""
    user, _created = User.objects.get_or_create(username=username)
    client.force_login(user)
    session = client.session
    SignedIn(
        organization_id=organization.pk,
        issuer=issuer,
        sub=sub,
        sid=sid,
        id_token="x.y.z",
        checked_at=time.time() if checked_at is None else checked_at,
    ).save(session)
    session.save()
    assert session.session_key is not None
    index_session(
        session.session_key, issuer=issuer, sub=sub, sid=sid, organization_id=organization.pk
    )
    return session.session_key


def is_signed_in(client: Client) -> bool:
    """What the user would see: ``/me/`` says authenticated."""
    return bool(client.get("/me/").json()["authenticated"])
