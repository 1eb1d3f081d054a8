"""Applications on the hub's own session store are logged out directly, without HTTP."""

from __future__ import annotations

import pytest

from logout_sso.hub.internal.outbox import record_logout
from logout_sso.models import TrackedSession
from logout_sso.models.events import DeliveryState, Initiator
from tests.signing_in import sign_in_through_idp

IDP = "https://idp.example.com/"


@pytest.mark.django_db
def test_a_shared_session_store_application_is_ended_directly(
    client, make_organization, make_application, monkeypatch
):
    queued: list[int] = []
    monkeypatch.setattr(
        "logout_sso.tasks.deliver_event.delay", lambda event_id, claim="": queued.append(event_id)
    )
    acme = make_organization("acme")
    portal = make_application("portal", acme, shares_session_store=True)
    sign_in_through_idp(client, acme, issuer=IDP, sub="alice", sid="s1")
    TrackedSession.objects.create(
        application=portal, organization=acme, issuer=IDP, sub="alice", session_id="p1"
    )

    event = record_logout(initiator=Initiator.API, issuer=IDP, sub="alice", organization=acme)

    [delivery] = event.deliveries.all()
    assert (delivery.state, delivery.attempts) == (DeliveryState.DELIVERED, 1)
    event.refresh_from_db()
    assert event.outcome == "completed"
    assert client.get("/me/").json()["authenticated"] is False
    assert queued == []


@pytest.mark.django_db
def test_direct_ending_stays_inside_the_events_organization(
    client, make_organization, make_application, monkeypatch
):
    """Reproduced: an application of Acme on the hub's session store registered a Globex user's
    sub under Acme and reported a logout; the Globex user was signed out of the hub."""
    monkeypatch.setattr("logout_sso.tasks.deliver_event.delay", lambda event_id, claim="": None)
    acme, globex = make_organization("acme"), make_organization("globex")
    portal = make_application("portal", acme, shares_session_store=True)
    sign_in_through_idp(client, globex, username="gina", issuer=IDP, sub="gina", sid="g1")
    TrackedSession.objects.create(
        application=portal, organization=acme, issuer=IDP, sub="gina", session_id="forged"
    )

    event = record_logout(initiator=Initiator.API, issuer=IDP, sub="gina", organization=acme)

    assert client.get("/me/").json()["authenticated"] is True
    assert event.organization == acme
