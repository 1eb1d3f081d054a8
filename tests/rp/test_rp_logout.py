"""RP-initiated logout: LogoutView (a confirmation on GET, logout on POST with CSRF), where the
user is sent afterwards per the organization's policy, and the IdP logout URL builders."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client

from logout_sso.models import LocalSession, LogoutEvent, Organization
from logout_sso.rp.logout_urls import (
    Auth0LogoutURLBuilder,
    Auth0V2LogoutURLBuilder,
    LogoutRequest,
    OIDCLogoutURLBuilder,
)
from logout_sso.signals import logout_recorded
from tests.signing_in import is_signed_in, sign_in_through_idp

ISSUER = "https://idp.example.com/"
CLIENT_ID = "crm-client"
END_SESSION = "https://idp.example.com/session/end"
DEFAULT_AFTER_LOGOUT = "http://testserver/signed-out/"
ALLOWED = "https://app.example.com/bye"


@pytest.fixture(autouse=True)
def oidc_settings(settings):
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_OP_ISSUER = ISSUER
    settings.LOGOUT_SSO = {"END_SESSION_ENDPOINT": END_SESSION}


def set_policy(organization: Organization, **fields: Any) -> None:
    policy = organization.logout_policy
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.save()


def sign_in(client: Client, organization: Organization, username: str = "alice") -> str:
    """Sign ``client`` in as if through the IdP; return its session key."""
    return sign_in_through_idp(client, organization, username=username, issuer=ISSUER)


def log_out(client: Client, next_url: str | None = None) -> str:
    """POST the logout form as the confirmation page offers it; return where the user is sent."""
    data = {} if next_url is None else {"next": next_url}
    response = client.post("/sso/logout/", data)
    assert response.status_code == 302, response.content.decode()
    return str(response["Location"])


def split(url: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(url)
    return (
        f"{parts.scheme}://{parts.netloc}{parts.path}",
        parse_qs(parts.query, keep_blank_values=True),
    )


# --- the confirmation page and CSRF -------------------------------------------------------------


@pytest.mark.django_db
def test_get_shows_a_confirmation_form_and_does_not_log_out(client, acme):
    sign_in(client, acme)

    response = client.get("/sso/logout/", {"next": "/form/"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "Log out?" in page
    assert '<form method="post" action="/sso/logout/">' in page
    assert 'name="next" value="/form/"' in page
    assert is_signed_in(client)
    assert not LogoutEvent.objects.exists()


@pytest.mark.django_db
def test_the_confirmation_page_escapes_next(client):
    response = client.get("/sso/logout/", {"next": '"><script>alert(1)</script>'})

    page = response.content.decode()
    assert "<script>" not in page
    assert 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page


@pytest.mark.django_db
def test_post_without_csrf_token_is_refused_and_keeps_the_user_signed_in(acme):
    client = Client(enforce_csrf_checks=True)
    sign_in(client, acme)

    response = client.post("/sso/logout/")

    assert response.status_code == 403
    assert is_signed_in(client)
    assert not LogoutEvent.objects.exists()


@pytest.mark.django_db
def test_post_with_the_confirmation_pages_csrf_token_logs_out(acme):
    client = Client(enforce_csrf_checks=True)
    sign_in(client, acme)
    page = client.get("/sso/logout/").content.decode()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match is not None

    response = client.post("/sso/logout/", {"csrfmiddlewaretoken": match.group(1)})

    assert response.status_code == 302
    assert not is_signed_in(client)


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["put", "delete"])
def test_other_methods_are_not_allowed(client, acme, method):
    sign_in(client, acme)

    assert getattr(client, method)("/sso/logout/").status_code == 405
    assert is_signed_in(client)


# --- slo_mode none: local logout only -----------------------------------------------------------


@pytest.mark.django_db
def test_without_slo_the_user_lands_on_the_logout_redirect_url(client, acme):
    set_policy(acme, slo_mode="none")
    sign_in(client, acme)

    response = client.post("/sso/logout/", follow=True)

    assert response.redirect_chain == [(DEFAULT_AFTER_LOGOUT, 302)]
    assert response.content.decode() == "signed out"
    assert not is_signed_in(client)


@pytest.mark.django_db
@pytest.mark.parametrize("next_url", ["/form/", "/form/?draft=1", ALLOWED])
def test_without_slo_a_safe_next_is_followed(client, acme, settings, next_url):
    settings.LOGOUT_SSO = {"POST_LOGOUT_REDIRECT_ALLOWLIST": [ALLOWED]}
    set_policy(acme, slo_mode="none")
    sign_in(client, acme)

    assert log_out(client, next_url) == next_url


@pytest.mark.django_db
@pytest.mark.parametrize(
    "next_url",
    ["//evil.com", "https:evil.com", "\\\\evil.com", "https://evil.com/", "javascript:alert(1)"],
)
def test_without_slo_an_unsafe_next_falls_back_to_the_default(client, acme, next_url):
    set_policy(acme, slo_mode="none")
    sign_in(client, acme)

    assert log_out(client, next_url) == DEFAULT_AFTER_LOGOUT


# --- short_lived_tokens and logout_service: the IdP's session ends too ------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("slo_mode", ["short_lived_tokens", "logout_service"])
def test_with_slo_the_user_is_sent_to_the_idps_logout(client, acme, slo_mode):
    set_policy(acme, slo_mode=slo_mode)
    sign_in(client, acme)

    endpoint, query = split(log_out(client))

    assert endpoint == END_SESSION
    assert query == {
        "id_token_hint": ["x.y.z"],
        "client_id": [CLIENT_ID],
        "post_logout_redirect_uri": [DEFAULT_AFTER_LOGOUT],
    }
    assert not is_signed_in(client)


@pytest.mark.django_db
def test_a_next_in_the_organizations_allowlist_is_the_post_logout_redirect(client, acme):
    set_policy(acme, post_logout_redirect_uris=f"https://other.example.com/\n{ALLOWED}\n")
    sign_in(client, acme)

    _endpoint, query = split(log_out(client, ALLOWED))

    assert query["post_logout_redirect_uri"] == [ALLOWED]


@pytest.mark.django_db
def test_a_next_in_the_global_allowlist_is_the_post_logout_redirect(client, acme, settings):
    settings.LOGOUT_SSO = {
        "END_SESSION_ENDPOINT": END_SESSION,
        "POST_LOGOUT_REDIRECT_ALLOWLIST": [ALLOWED],
    }
    sign_in(client, acme)

    _endpoint, query = split(log_out(client, ALLOWED))

    assert query["post_logout_redirect_uri"] == [ALLOWED]


@pytest.mark.django_db
def test_another_organizations_allowlist_does_not_apply(client, acme, make_organization):
    globex = make_organization("globex")
    set_policy(globex, post_logout_redirect_uris=ALLOWED)
    sign_in(client, acme)

    _endpoint, query = split(log_out(client, ALLOWED))

    assert query["post_logout_redirect_uri"] == [DEFAULT_AFTER_LOGOUT]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.com",
        "https:evil.com",
        "\\\\evil.com",
        "https://app.example.com@evil.com/",
        "HTTPS://APP.example.com/bye",
        "https://app.example.com/bye/../../evil",
        "https://app.example.com/byebye",
        "https://app.example.com/bye?next=https://evil.com",
        "https://app.example.com/bye.evil.com",
        " https://app.example.com/bye",
        "https:%2F%2Fevil.com",
        "/%2F%2Fevil.com",
        "javascript:alert(1)",
        "/form/",
    ],
    ids=[
        "protocol-relative",
        "scheme-without-slashes",
        "backslashes",
        "userinfo",
        "mixed-case",
        "dot-segments-suffix",
        "suffix",
        "query-suffix",
        "host-suffix",
        "leading-space",
        "encoded-slashes",
        "encoded-slashes-path",
        "javascript",
        "local-path-not-allowlisted",
    ],
)
def test_a_post_logout_redirect_not_exactly_allowlisted_falls_back_to_the_default(
    client, acme, next_url
):
    set_policy(acme, post_logout_redirect_uris=ALLOWED)
    sign_in(client, acme)

    endpoint, query = split(log_out(client, next_url))

    assert endpoint == END_SESSION
    assert query["post_logout_redirect_uri"] == [DEFAULT_AFTER_LOGOUT]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("builder", "federated", "endpoint", "expected"),
    [
        ("OIDCLogoutURLBuilder", True, "https://idp.example.com/session/end", None),
        ("Auth0LogoutURLBuilder", True, "https://idp.example.com/oidc/logout", [""]),
        ("Auth0LogoutURLBuilder", False, "https://idp.example.com/oidc/logout", None),
        ("Auth0V2LogoutURLBuilder", True, "https://idp.example.com/v2/logout", [""]),
        ("Auth0V2LogoutURLBuilder", False, "https://idp.example.com/v2/logout", None),
    ],
)
def test_the_configured_builder_makes_the_idp_logout_url(
    client, acme, settings, builder, federated, endpoint, expected
):
    settings.LOGOUT_SSO = {"LOGOUT_URL_BUILDER": f"logout_sso.rp.logout_urls.{builder}"}
    if builder == "OIDCLogoutURLBuilder":
        settings.LOGOUT_SSO["END_SESSION_ENDPOINT"] = END_SESSION
    set_policy(acme, federated_logout=federated)
    sign_in(client, acme)

    actual_endpoint, query = split(log_out(client))

    assert actual_endpoint == endpoint
    assert query.get("federated") == expected


# --- what a logout records ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("slo_mode", ["none", "short_lived_tokens", "logout_service"])
def test_every_logout_is_recorded_and_announced(client, acme, captured_signals, slo_mode):
    [recorded] = captured_signals(logout_recorded)

    set_policy(acme, slo_mode=slo_mode)
    session_key = sign_in(client, acme)
    user = User.objects.get(username="alice")

    log_out(client)

    event = LogoutEvent.objects.get()
    assert event.initiator == "user"
    assert event.initiated_by_user == user
    assert event.organization == acme
    assert (event.issuer, event.sub, event.sid) == (ISSUER, "u1", "s1")
    assert event.sessions_ended == 1
    assert event.outcome == "completed"
    assert event.completed_at is not None
    assert [sent["event"] for sent in recorded] == [event]
    assert not LocalSession.objects.filter(session_key=session_key).exists()


@pytest.mark.django_db
def test_a_logout_ends_only_this_session(acme):
    mine, other = Client(), Client()
    sign_in(mine, acme, "alice")
    other_key = sign_in(other, acme, "bob")

    log_out(mine)

    assert not is_signed_in(mine)
    assert is_signed_in(other)
    assert LocalSession.objects.filter(session_key=other_key).exists()


@pytest.mark.django_db
def test_a_user_signed_in_with_a_password_is_logged_out_without_an_event(client, captured_signals):
    [recorded] = captured_signals(logout_recorded)

    client.force_login(User.objects.create_user("admin", password="pw", is_staff=True))

    location = log_out(client)

    assert location == DEFAULT_AFTER_LOGOUT
    assert not is_signed_in(client)
    assert not LogoutEvent.objects.exists()
    assert recorded == []


@pytest.mark.django_db
def test_a_user_signed_in_with_a_password_may_go_to_a_local_next(client):
    client.force_login(User.objects.create_user("admin", password="pw", is_staff=True))

    assert log_out(client, "/form/") == "/form/"


@pytest.mark.django_db
def test_an_anonymous_logout_just_lands_on_the_default(client, captured_signals):
    [recorded] = captured_signals(logout_recorded)

    assert log_out(client, "//evil.com") == DEFAULT_AFTER_LOGOUT
    assert recorded == []


@pytest.mark.django_db
def test_deleting_an_organization_signs_its_users_out(client, acme):
    sign_in(client, acme)

    acme.delete()

    assert not is_signed_in(client)
    assert not LocalSession.objects.exists()


def test_a_user_of_a_deleted_organization_can_log_out(client, acme, captured_signals):
    [recorded] = captured_signals(logout_recorded)

    session_key = sign_in(client, acme)
    LocalSession.objects.filter(session_key=session_key).delete()  # A session not indexed.
    acme.delete()

    location = log_out(client)

    assert location == DEFAULT_AFTER_LOGOUT
    assert not is_signed_in(client)
    event = LogoutEvent.objects.get()
    assert (event.organization, event.sub, event.sid) == (None, "u1", "s1")
    assert [sent["event"] for sent in recorded] == [event]


# --- the logout URL builders --------------------------------------------------------------------


def logout_request(federated: bool = False) -> LogoutRequest:
    return LogoutRequest(
        id_token="x.y.z",
        client_id=CLIENT_ID,
        post_logout_redirect_uri=ALLOWED,
        federated=federated,
    )


def test_oidc_builder_keeps_the_query_of_the_configured_endpoint(settings):
    settings.LOGOUT_SSO = {"END_SESSION_ENDPOINT": f"{END_SESSION}?tenant=acme"}

    endpoint, query = split(OIDCLogoutURLBuilder().build(logout_request()))

    assert endpoint == END_SESSION
    assert query == {
        "tenant": ["acme"],
        "id_token_hint": ["x.y.z"],
        "client_id": [CLIENT_ID],
        "post_logout_redirect_uri": [ALLOWED],
    }


@pytest.mark.parametrize("federated", [True, False])
def test_oidc_builder_never_sends_federated(federated):
    _endpoint, query = split(OIDCLogoutURLBuilder().build(logout_request(federated)))

    assert "federated" not in query


def test_oidc_builder_discovers_the_end_session_endpoint(settings, monkeypatch):
    settings.LOGOUT_SSO = {}
    asked: list[str] = []

    def metadata(issuer: str) -> dict[str, str]:
        asked.append(issuer)
        return {"issuer": issuer, "end_session_endpoint": "https://idp.example.com/logout"}

    monkeypatch.setattr("logout_sso.rp.logout_urls.provider_metadata", metadata)

    endpoint, query = split(OIDCLogoutURLBuilder().build(logout_request()))

    assert asked == [ISSUER]
    assert endpoint == "https://idp.example.com/logout"
    assert query["id_token_hint"] == ["x.y.z"]


def test_oidc_builder_says_what_to_set_without_an_end_session_endpoint(settings, monkeypatch):
    settings.LOGOUT_SSO = {}
    monkeypatch.setattr(
        "logout_sso.rp.logout_urls.provider_metadata", lambda issuer: {"issuer": issuer}
    )

    with pytest.raises(LookupError, match="END_SESSION_ENDPOINT"):
        OIDCLogoutURLBuilder().build(logout_request())


@pytest.mark.parametrize(
    ("federated", "expected"), [(True, [""]), (False, None)], ids=["federated", "not-federated"]
)
def test_auth0_builder_uses_oidc_logout_with_federated_per_policy(settings, federated, expected):
    settings.LOGOUT_SSO = {}
    settings.OIDC_OP_ISSUER = "https://acme.eu.auth0.com/"

    endpoint, query = split(Auth0LogoutURLBuilder().build(logout_request(federated)))

    assert endpoint == "https://acme.eu.auth0.com/oidc/logout"
    assert query.pop("federated", None) == expected
    assert query == {
        "id_token_hint": ["x.y.z"],
        "client_id": [CLIENT_ID],
        "post_logout_redirect_uri": [ALLOWED],
    }


@pytest.mark.parametrize(
    ("federated", "expected"), [(True, [""]), (False, None)], ids=["federated", "not-federated"]
)
def test_auth0_v2_builder_uses_v2_logout_with_return_to(settings, federated, expected):
    settings.LOGOUT_SSO = {}
    settings.OIDC_OP_ISSUER = "https://acme.eu.auth0.com/"

    endpoint, query = split(Auth0V2LogoutURLBuilder().build(logout_request(federated)))

    assert endpoint == "https://acme.eu.auth0.com/v2/logout"
    assert query.pop("federated", None) == expected
    assert query == {"client_id": [CLIENT_ID], "returnTo": [ALLOWED]}


def test_auth0_builder_uses_a_configured_endpoint(settings):
    settings.LOGOUT_SSO = {"END_SESSION_ENDPOINT": "https://login.acme.example/oidc/logout"}

    endpoint, _query = split(Auth0LogoutURLBuilder().build(logout_request()))

    assert endpoint == "https://login.acme.example/oidc/logout"


def test_provider_unreachable_at_logout_still_logs_out_here_and_says_so(client, acme, settings):
    settings.LOGOUT_SSO = {}  # The endpoint must come from discovery...
    settings.OIDC_OP_ISSUER = "http://127.0.0.1:9/"  # ...and nothing listens there.
    sign_in(client, acme)

    response = client.post("/sso/logout/")

    assert response.status_code == 502
    assert "could not be reached" in response.content.decode()
    assert not is_signed_in(client)
