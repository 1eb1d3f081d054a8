"""The hub's issuer metadata, ``GET /sso/.well-known/openid-configuration``, and a receiver that
trusts the hub by its issuer alone and finds its keys there.

The end-to-end test runs the test project as a live server (a real HTTP server on loopback),
playing both parts: the hub that signs and POSTs the logout token, and the application whose
receiver is configured with the hub's ``issuer`` only (its ``subject_issuer`` aside): no
``jwks_uri``, no ``audience`` (it defaults to ``OIDC_RP_CLIENT_ID``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import resolve, reverse
from pytest_django.fixtures import Settings as SettingsWrapper

from logout_sso.hub.internal import sender
from logout_sso.hub.internal.outbox import record_logout
from logout_sso.internal.discovery import metadata_url
from logout_sso.models import Delivery, LocalSession, LogoutEvent, Organization
from logout_sso.models.events import Initiator
from tests.hub_receivers import (
    IDP_ISSUER,
    hub_logout_sso,
    hub_policy,
    messages_lost,
    register_application,
    track_session,
)
from tests.signing_in import is_signed_in, sign_in_through_idp

ISSUER = "https://hub.example.com/sso/"
URL = "/sso/.well-known/openid-configuration"


@pytest.fixture
def hub_at_sso(hub_settings: SettingsWrapper) -> SettingsWrapper:
    """The hub, its issuer the URL the test project mounts logout_sso's URLs at."""
    hub_settings.LOGOUT_SSO = {**hub_settings.LOGOUT_SSO, "HUB_ISSUER": ISSUER}
    return hub_settings


def test_the_metadata_is_at_the_well_known_url_under_the_issuer(client, hub_at_sso):
    response = client.get(URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "public, max-age=300"
    assert response.json() == {
        "issuer": ISSUER,
        "jwks_uri": "https://hub.example.com/sso/jwks/",
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "logout_token_signing_alg_values_supported": ["RS256"],
    }
    assert urlsplit(metadata_url(ISSUER)).path == URL == reverse("logout_sso:openid_configuration")


def test_the_jwks_uri_names_the_keys_the_hub_publishes(client, hub_at_sso):
    document = client.get(URL).json()

    jwks_path = urlsplit(document["jwks_uri"]).path
    assert resolve(jwks_path).view_name == "logout_sso:jwks"
    assert [key["alg"] for key in client.get(jwks_path).json()["keys"]] == ["RS256"]


def test_the_algorithms_are_those_of_every_published_key(client, hub_at_sso, hub_ec_pem):
    rsa = hub_at_sso.LOGOUT_SSO["HUB_SIGNING_KEY"]
    hub_at_sso.LOGOUT_SSO = {
        **hub_at_sso.LOGOUT_SSO,
        "HUB_SIGNING_KEY": hub_ec_pem,
        "HUB_SIGNING_KEYS_INACTIVE": [rsa],
    }

    document = client.get(URL).json()

    assert document["logout_token_signing_alg_values_supported"] == ["ES256", "RS256"]


def test_the_host_header_does_not_move_the_jwks_uri(hub_at_sso):
    document = Client(HTTP_HOST="localhost").get(URL).json()

    assert document["jwks_uri"] == "https://hub.example.com/sso/jwks/"


@pytest.mark.parametrize(
    "logout_sso",
    [{}, {"HUB_ISSUER": ISSUER}],
    ids=["nothing", "an issuer but no signing key"],
)
def test_a_project_that_is_no_hub_answers_a_json_404(client, settings, logout_sso):
    settings.LOGOUT_SSO = logout_sso

    response = client.get(URL)

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_the_metadata_answers_get_and_head_only(client, hub_at_sso):
    assert client.head(URL).status_code == 200
    assert client.post(URL).status_code == 405


# --- End to end: a receiver that knows the hub by its issuer --------------------------------


@pytest.fixture
def live_hub(live_server: Any, settings: SettingsWrapper, hub_rsa_pem: str) -> str:
    """The test project, served live, is the hub (its issuer under the live server) and an
    application whose back-channel receiver trusts the hub by its issuer; the hub's issuer."""
    issuer = f"{live_server.url}/sso/"
    settings.OIDC_OP_ISSUER = IDP_ISSUER
    settings.OIDC_RP_CLIENT_ID = "wiki-client"
    settings.LOGOUT_SSO = {
        **hub_logout_sso(hub_rsa_pem),
        "HUB_ISSUER": issuer,
        "TRUSTED_ISSUERS": [{"issuer": issuer, "subject_issuer": IDP_ISSUER}],
    }
    return issuer


@pytest.mark.django_db(transaction=True)
def test_a_receiver_trusting_the_hubs_issuer_alone_discovers_its_keys(
    live_hub, live_server, monkeypatch
):
    acme = hub_policy(Organization.objects.create(slug="acme", name="Acme"))
    wiki, _ = register_application(
        "wiki", acme, uri=f"{live_server.url}/sso/backchannel-logout/", client_id="wiki-client"
    )
    alice = Client()
    sign_in_through_idp(alice, acme, issuer=IDP_ISSUER, sub="alice", sid="sid-1")
    track_session(wiki, acme, "alice", sid="sid-1")
    with messages_lost(monkeypatch, run_out=False) as claims:
        event = record_logout(
            initiator=Initiator.ADMIN, issuer=IDP_ISSUER, sub="alice", organization=acme
        )

    assert sender.deliver_event(event.pk, claims[0]).delivered == 1

    delivery = Delivery.objects.get(event=event)
    assert (delivery.state, delivery.last_status) == ("delivered", 200), delivery.last_error
    assert not is_signed_in(alice)
    assert not LocalSession.objects.exists()
    received = LogoutEvent.objects.get(initiator=Initiator.IDP_BACKCHANNEL)
    assert (received.issuer, received.sub, received.sessions_ended) == (IDP_ISSUER, "alice", 1)
    assert received.organization == acme
