"""What logout_sso relies on in mozilla-django-oidc (pinned to >=5,<6 in pyproject.toml).

LoginView and CallbackView subclass its views and read the session keys its login writes:
``oidc_states`` (a dict keyed by the state, each entry holding the ``nonce``; logout_sso adds the
login attempt to the entry) and ``oidc_login_next`` (its one ``next`` per session, which
LoginView drops since each attempt carries its own). A new major that renames or reshapes them
fails here, before it breaks sign-ins.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from logout_sso.models import Organization
from logout_sso.rp.internal.state import LoginAttempt

AUTHORIZE = "https://idp.example.com/authorize"


@pytest.fixture(autouse=True)
def oidc_settings(settings):
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = AUTHORIZE
    settings.OIDC_RP_CLIENT_ID = "crm-client"
    settings.OIDC_RP_CLIENT_SECRET = "not-a-secret"
    settings.OIDC_OP_TOKEN_ENDPOINT = "https://idp.example.com/oauth/token"
    settings.OIDC_OP_USER_ENDPOINT = "https://idp.example.com/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = "https://idp.example.com/.well-known/jwks.json"
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_OP_ISSUER = "https://idp.example.com/"


@pytest.fixture
def parent_sessions(monkeypatch) -> list[dict[str, Any]]:
    """The session as mozilla-django-oidc's own login view leaves it, before LoginView's part."""
    seen: list[dict[str, Any]] = []
    real_get = OIDCAuthenticationRequestView.get

    def get(self: OIDCAuthenticationRequestView, request: HttpRequest) -> HttpResponse:
        response: HttpResponse = real_get(self, request)
        seen.append(dict(request.session.items()))
        return response

    monkeypatch.setattr(OIDCAuthenticationRequestView, "get", get)
    return seen


def start_login(client: Client, **params: str) -> dict[str, list[str]]:
    response = client.get("/sso/login/", params)
    assert response.status_code == 302, response.content.decode()
    assert response["Location"].startswith(f"{AUTHORIZE}?")
    return parse_qs(urlsplit(response["Location"]).query)


@pytest.mark.django_db
def test_the_login_keeps_states_keyed_by_state_with_their_nonce(client, acme: Organization):
    first = start_login(client, organization="acme")
    second = start_login(client, organization="acme", next="/page/")

    states = client.session["oidc_states"]
    assert isinstance(states, dict)
    assert set(states) == {first["state"][0], second["state"][0]}
    for query in (first, second):
        entry = states[query["state"][0]]
        assert isinstance(entry, dict)
        assert entry["nonce"] == query["nonce"][0]
        assert LoginAttempt.from_state_entry(entry) is not None  # logout_sso's part of it


@pytest.mark.django_db
def test_the_parent_login_writes_oidc_login_next_which_login_view_drops(
    client, acme: Organization, parent_sessions: list[dict[str, Any]]
):
    query = start_login(client, organization="acme", next="/page/?a=1")

    [parent_session] = parent_sessions
    assert parent_session["oidc_login_next"] == "/page/?a=1"
    assert query["state"][0] in parent_session["oidc_states"]
    assert "oidc_login_next" not in client.session
    assert LoginAttempt.from_state_entry(
        client.session["oidc_states"][query["state"][0]]
    ) == LoginAttempt(organization_id=acme.pk, next_url="/page/?a=1", silent=False)


def test_the_parent_callback_reads_its_next_from_oidc_login_next(rf: RequestFactory):
    """CallbackView's success_url (the attempt's next) replaces this one."""
    request = rf.get("/sso/callback/")
    request.session = {"oidc_login_next": "/page/"}  # type: ignore[assignment]
    view = OIDCAuthenticationCallbackView()
    view.request = request

    assert view.success_url == "/page/"
