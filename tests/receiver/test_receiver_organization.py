"""The organization a back-channel logout is recorded under when it ends no session here.

The user logs out of this application (RP-initiated), the IdP then tells every application,
this one included: no session is left to end, yet the record belongs to the user's
organization, so that its admins see it (not only superusers). It is taken from the recent
logouts and the hub's tracked sessions of that IdP session (or user), and only when they name
exactly one organization.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from logout_sso.models import Application, LogoutEvent, Organization, TrackedSession
from logout_sso.models.events import Initiator
from logout_sso.receiver.internal.logouts import RECENT_LOGOUT
from tests.receiver_keys import DELETE, KeyServer
from tests.signing_in import is_signed_in, sign_in_through_idp

URL = "/sso/backchannel-logout/"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def logout_at_idp(settings: Any, trust: Any, server: KeyServer) -> None:
    """The trusted IdP (``server``) is also where users sign in and are sent to log out."""
    settings.OIDC_RP_CLIENT_ID = "crm-client"
    settings.OIDC_OP_ISSUER = server.issuer
    settings.LOGOUT_SSO = {**settings.LOGOUT_SSO, "END_SESSION_ENDPOINT": f"{server.issuer}/end"}


@pytest.fixture
def globex(make_organization: Callable[..., Organization]) -> Organization:
    return make_organization("globex")


def signed_in(organization: Organization, server: KeyServer, *, sub: str, sid: str) -> Client:
    client = Client()
    sign_in_through_idp(client, organization, issuer=server.issuer, sub=sub, sid=sid)
    return client


def log_out(client: Client) -> None:
    """The user's own logout: the form's POST, on to the IdP."""
    response = client.post("/sso/logout/")
    assert response.status_code == 302, response.content.decode()
    assert not is_signed_in(client)


def back_channel(server: KeyServer, **claims: Any) -> LogoutEvent:
    """The IdP's back-channel logout with these claims (over alice's ``sid-a``); its record."""
    response = Client().post(
        URL, urlencode({"logout_token": server.token(claims)}), content_type=FORM
    )
    assert response.status_code == 200, response.content.decode()
    return LogoutEvent.objects.get(initiator=Initiator.IDP_BACKCHANNEL)


def tracked(organization: Organization, server: KeyServer, *, sub: str, sid: str) -> None:
    """A session of ``sub`` the hub tracked for an application of ``organization``, ended."""
    application, _ = Application.objects.create_with_credential(
        name=f"{organization.slug}-app", client_id=f"{organization.slug}-client"
    )
    TrackedSession.objects.create(
        application=application,
        organization=organization,
        issuer=server.issuer,
        sub=sub,
        sid=sid,
        session_id=f"{organization.slug}-{sid}",
        ended_at=timezone.now(),
        end_reason="logout",
    )


@pytest.mark.django_db
@pytest.mark.parametrize("claims", [{}, {"sid": DELETE}], ids=["sid", "sub-only"])
def test_after_the_users_own_logout_it_is_recorded_under_their_organization(
    logout_at_idp, server, acme, globex, claims
):
    alice = signed_in(acme, server, sub="alice", sid="sid-a")
    signed_in(globex, server, sub="bob", sid="sid-b")  # Another organization's user, signed in.
    log_out(alice)

    event = back_channel(server, **claims)

    assert (event.organization, event.sessions_ended) == (acme, 0)
    assert LogoutEvent.objects.get(initiator=Initiator.USER).organization == acme


@pytest.mark.django_db
def test_a_session_the_hub_tracked_names_the_organization(trust, server, acme):
    tracked(acme, server, sub="alice", sid="sid-a")

    assert back_channel(server).organization == acme


@pytest.mark.django_db
@pytest.mark.parametrize("claims", [{}, {"sid": DELETE}], ids=["sid", "sub-only"])
def test_with_two_organizations_holding_that_user_none_is_chosen(
    logout_at_idp, server, acme, globex, claims
):
    alice = signed_in(acme, server, sub="alice", sid="sid-a")
    log_out(alice)
    tracked(globex, server, sub="alice", sid="sid-a")  # A globex application says it has her.

    assert back_channel(server, **claims).organization is None


@pytest.mark.django_db
def test_two_organizations_in_earlier_logouts_choose_none(logout_at_idp, server, acme, globex):
    for organization in (acme, globex):
        log_out(signed_in(organization, server, sub="alice", sid="sid-a"))

    assert back_channel(server).organization is None


@pytest.mark.django_db
def test_a_logout_older_than_a_day_names_no_organization(logout_at_idp, server, acme):
    log_out(signed_in(acme, server, sub="alice", sid="sid-a"))
    LogoutEvent.objects.update(created_at=timezone.now() - RECENT_LOGOUT - timedelta(minutes=1))

    assert back_channel(server).organization is None


@pytest.mark.django_db
def test_another_users_or_sessions_logout_names_no_organization(logout_at_idp, server, acme):
    log_out(signed_in(acme, server, sub="bob", sid="sid-b"))

    assert back_channel(server).organization is None  # alice, sid-a: nothing known of her


@pytest.mark.django_db
def test_the_organizations_admin_sees_it_and_another_organizations_does_not(
    logout_at_idp, server, acme, globex, make_org_admin
):
    log_out(signed_in(acme, server, sub="alice", sid="sid-a"))
    event = back_channel(server)
    admin_of_acme: User = make_org_admin("acme-admin", acme)
    admin_of_globex: User = make_org_admin("globex-admin", globex)
    changelist = reverse("admin:logout_sso_logoutevent_changelist")
    change = reverse("admin:logout_sso_logoutevent_change", args=[event.pk])

    acme_view, globex_view = Client(), Client()
    acme_view.force_login(admin_of_acme)
    globex_view.force_login(admin_of_globex)

    listed = acme_view.get(changelist, {"initiator__exact": Initiator.IDP_BACKCHANNEL})
    assert [row.pk for row in listed.context["cl"].result_list] == [event.pk]
    assert acme_view.get(change).status_code == 200
    assert globex_view.get(change).status_code == 404
    others = globex_view.get(changelist, {"initiator__exact": Initiator.IDP_BACKCHANNEL})
    assert list(others.context["cl"].result_list) == []
