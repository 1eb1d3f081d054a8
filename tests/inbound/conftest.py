"""Fixtures of the inbound signals' tests: Acme and Globex on the hub, each with its own
identity provider (a :class:`~tests.signal_senders.SignalSender`) as a Universal Logout source
and a Shared Signals source, and users signed in to their applications."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from logout_sso.models import (
    EmailDomain,
    LogoutEvent,
    Organization,
    SignalSource,
    TrackedSession,
)
from logout_sso.models.signal_sources import SignalKind
from tests.hub_receivers import IDP_ISSUER, hub_policy, register_application, track_session
from tests.signal_senders import SignalSender

UL_PATH = "/sso/organizations/{}/global-token-revocation"
SSF_PATH = "/sso/organizations/{}/ssf/events"


def ul_audience(slug: str = "acme") -> str:
    return "http://testserver" + UL_PATH.format(slug)


def ssf_audience(slug: str = "acme") -> str:
    return "http://testserver" + SSF_PATH.format(slug)


@dataclass
class Tenants:
    acme: Organization
    globex: Organization
    acme_idp: SignalSender
    globex_idp: SignalSender
    acme_ul: SignalSource
    acme_ssf: SignalSource

    def revoke(self, token: str | None, sub_id: Any, slug: str = "acme", **extra: Any) -> Any:
        """POST a Universal Logout request with ``token`` as bearer."""
        headers: dict[str, Any] = {} if token is None else {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        return Client().post(
            UL_PATH.format(slug),
            {"sub_id": sub_id},
            content_type="application/json",
            **headers,
            **extra,
        )

    def push(self, token: str, slug: str = "acme") -> Any:
        """Push a SET (RFC 8935)."""
        return Client().post(SSF_PATH.format(slug), token, content_type="application/secevent+jwt")


def live_sessions(sub: str) -> int:
    return TrackedSession.objects.live().filter(sub=sub).count()


def nobody_signed_out() -> bool:
    return not LogoutEvent.objects.exists() and TrackedSession.objects.live().count() == 4


def add_source(
    organization: Organization, sender: SignalSender, kind: str, **fields: Any
) -> SignalSource:
    return SignalSource.objects.create(
        organization=organization,
        name=f"{kind} of {organization.slug}",
        kind=kind,
        issuer=sender.issuer,
        jwks_uri=sender.jwks_uri if kind == SignalKind.UNIVERSAL_LOGOUT else "",
        **fields,
    )


@pytest.fixture
def senders() -> Iterator[tuple[SignalSender, SignalSender]]:
    acme_idp, globex_idp = SignalSender(), SignalSender()
    yield acme_idp, globex_idp
    acme_idp.close()
    globex_idp.close()


@pytest.fixture
def tenants(hub_settings: Any, db: None, senders: tuple[SignalSender, SignalSender]) -> Tenants:
    """Acme (acme.com) with wiki and billing, where alice has a session in each and bob one in
    wiki; Globex (globex.com) with crm, where gail has one. Each organization trusts its own
    identity provider for Universal Logout and Shared Signals (push)."""
    acme_idp, globex_idp = senders
    acme = hub_policy(Organization.objects.create(slug="acme", name="Acme"))
    globex = hub_policy(Organization.objects.create(slug="globex", name="Globex"))
    EmailDomain.objects.create(organization=acme, domain="acme.com")
    EmailDomain.objects.create(organization=globex, domain="globex.com")
    wiki, _ = register_application("wiki", acme, uri="https://wiki.example.com/bcl")
    billing, _ = register_application("billing", acme, uri="https://billing.example.com/bcl")
    crm, _ = register_application("crm", globex, uri="https://crm.example.com/bcl")
    for application, organization, sub, sid in (
        (wiki, acme, "alice", "sid-alice-1"),
        (billing, acme, "alice", "sid-alice-2"),
        (wiki, acme, "bob", "sid-bob"),
        (crm, globex, "gail", "sid-gail"),
    ):
        session = track_session(application, organization, sub, sid=sid)
        session.email = f"{sub.capitalize()}@{organization.slug}.com"
        session.save()
    acme_ul = add_source(acme, acme_idp, SignalKind.UNIVERSAL_LOGOUT)
    acme_ssf = add_source(acme, acme_idp, SignalKind.SHARED_SIGNALS)
    add_source(globex, globex_idp, SignalKind.UNIVERSAL_LOGOUT)
    add_source(globex, globex_idp, SignalKind.SHARED_SIGNALS)
    return Tenants(acme, globex, acme_idp, globex_idp, acme_ul, acme_ssf)


def alice() -> dict[str, str]:
    return {"format": "iss_sub", "iss": IDP_ISSUER, "sub": "alice"}
