"""ShortLivedSessionMiddleware: each organization's session TTL, re-checked on user action.

Before the deadline every request goes through untouched (and costs no database query); after it,
a page navigation is sent to the silent re-check and back, while scripts and unsafe methods get
a 401 with the refresh URL and are never processed.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.utils.html import escape

from logout_sso.internal.policies import get_policy
from logout_sso.models import Organization
from logout_sso.rp.internal.state import SignedIn
from logout_sso.rp.middleware import REFRESH_HEADER, ShortLivedSessionMiddleware
from tests import views
from tests.signing_in import is_signed_in, sign_in_through_idp

SIGNED_IN_AT = 1_900_000_000.0
TTL = 600  # the default policy's session_ttl
BEFORE_DEADLINE = SIGNED_IN_AT + TTL - 1
AFTER_DEADLINE = SIGNED_IN_AT + TTL + 1

XHR = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}
FETCH = {"HTTP_SEC_FETCH_MODE": "cors"}
JSON_ONLY = {"HTTP_ACCEPT": "application/json"}
NAVIGATION = {
    "HTTP_SEC_FETCH_MODE": "navigate",
    "HTTP_ACCEPT": "text/html,application/xhtml+xml,*/*;q=0.8",
}


class Clock:
    """The time the middleware reads (``logout_sso.rp.internal.state.now``)."""

    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(BEFORE_DEADLINE)
    monkeypatch.setattr("logout_sso.rp.internal.state.now", clock)
    return clock


@pytest.fixture(autouse=True)
def processed() -> Iterator[list[str]]:
    views.PROCESSED.clear()
    yield views.PROCESSED
    views.PROCESSED.clear()


def sign_in(client: Client, organization: Organization, username: str = "alice") -> SessionBase:
    """Sign ``client`` in as if through the OpenID provider at ``SIGNED_IN_AT``."""
    sign_in_through_idp(client, organization, username=username, checked_at=SIGNED_IN_AT)
    return client.session


@pytest.fixture
def signed_in(client: Client, acme: Organization, clock: Clock) -> Client:
    sign_in(client, acme)
    return client


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# --- before the deadline ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "headers", "body"),
    [
        ("get", "/me/", {}, "authenticated"),
        ("get", "/me/", XHR, "authenticated"),
        ("post", "/form/", {}, "saved"),
        ("put", "/form/", XHR, "saved"),
        ("delete", "/form/", {}, "saved"),
    ],
    ids=["navigation", "xhr", "form-post", "put", "delete"],
)
def test_before_the_deadline_requests_are_processed(
    signed_in, processed, method, path, headers, body
):
    response = getattr(signed_in, method)(path, **headers)

    assert response.status_code == 200
    assert body in response.content.decode()
    assert processed == [f"{method.upper()} {path}"]


@pytest.mark.django_db
def test_before_the_deadline_a_cached_policy_costs_no_query(
    signed_in, acme, django_assert_num_queries
):
    request = RequestFactory().get("/me/")
    request.session = signed_in.session
    assert SignedIn.load(request.session) is not None  # the session is loaded
    get_policy(acme.pk)  # and the policy cached, as by the request before
    middleware = ShortLivedSessionMiddleware(lambda request: HttpResponse())

    with django_assert_num_queries(0):
        response = middleware.recheck(request)

    assert response is None


# --- after the deadline -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("headers", [{}, NAVIGATION], ids=["plain", "sec-fetch-navigate"])
def test_after_the_deadline_a_navigation_goes_to_the_silent_recheck(
    signed_in, clock, processed, headers
):
    clock.at = AFTER_DEADLINE

    response = signed_in.get("/me/?tab=2&q=a+b", **headers)

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == "/sso/login/"
    assert parse_qs(location.query) == {
        "organization": ["acme"],
        "next": ["/me/?tab=2&q=a+b"],
        "prompt": ["none"],
    }
    assert response["Cache-Control"] == "no-store"
    assert processed == []


@pytest.mark.django_db
def test_the_deadline_is_the_sign_in_time_plus_the_ttl(signed_in, clock, processed):
    clock.at = SIGNED_IN_AT + TTL

    assert signed_in.get("/me/").status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("headers", "expected_next"),
    [
        ({**XHR, "HTTP_REFERER": "http://testserver/form/?draft=7"}, "/form/?draft=7"),
        ({**XHR, "HTTP_REFERER": "https://other.example.com/form/"}, "/me/"),
        ({**XHR, "HTTP_REFERER": "http://testserver//evil.com/"}, "/me/"),
        (XHR, "/me/"),
        ({**FETCH, "HTTP_REFERER": "http://testserver/form/"}, "/form/"),
        ({**JSON_ONLY, "HTTP_REFERER": "http://testserver/form/"}, "/form/"),
    ],
    ids=[
        "xhr-same-host-referer",
        "xhr-other-host-referer",
        "xhr-protocol-relative-referer-path",
        "xhr-no-referer",
        "fetch-cors",
        "accept-json-only",
    ],
)
def test_after_the_deadline_a_script_gets_401_json_with_the_refresh_url(
    signed_in, clock, processed, headers, expected_next
):
    clock.at = AFTER_DEADLINE

    response = signed_in.get("/me/", **headers)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    refresh_url = response.json()["refresh_url"]
    assert urlsplit(refresh_url).path == "/sso/login/"
    assert query_of(refresh_url) == {
        "organization": ["acme"],
        "next": [expected_next],
        "prompt": ["none"],
    }
    assert response[REFRESH_HEADER] == refresh_url
    assert response["Cache-Control"] == "no-store"
    assert processed == []


@pytest.mark.django_db
def test_after_the_deadline_a_form_post_is_not_saved_and_offers_the_refresh(
    signed_in, clock, processed
):
    clock.at = AFTER_DEADLINE

    response = signed_in.post(
        "/form/", {"comment": "hello"}, HTTP_REFERER="http://testserver/form/?draft=7"
    )

    assert response.status_code == 401
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    refresh_url = response[REFRESH_HEADER]
    assert query_of(refresh_url) == {
        "organization": ["acme"],
        "next": ["/form/?draft=7"],
        "prompt": ["none"],
    }
    assert f'href="{escape(refresh_url)}"' in page
    assert "was not saved" in page
    assert response["Cache-Control"] == "no-store"
    assert processed == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "headers", "content_type"),
    [
        ("post", XHR, "application/json"),
        ("put", {}, "text/html; charset=utf-8"),
        ("put", XHR, "application/json"),
        ("patch", {}, "text/html; charset=utf-8"),
        ("patch", FETCH, "application/json"),
        ("delete", {}, "text/html; charset=utf-8"),
        ("delete", XHR, "application/json"),
    ],
    ids=["post-xhr", "put", "put-xhr", "patch", "patch-fetch", "delete", "delete-xhr"],
)
def test_after_the_deadline_unsafe_methods_get_401_and_are_not_processed(
    signed_in, clock, processed, method, headers, content_type
):
    clock.at = AFTER_DEADLINE

    response = getattr(signed_in, method)("/form/", **headers)

    assert response.status_code == 401
    assert response["Content-Type"] == content_type
    assert "prompt=none" in response[REFRESH_HEADER]
    assert response["Cache-Control"] == "no-store"
    assert processed == []


@pytest.mark.django_db
def test_after_the_recheck_redirect_the_user_is_still_signed_in_locally(signed_in, clock):
    clock.at = AFTER_DEADLINE
    signed_in.get("/me/")

    clock.at = BEFORE_DEADLINE
    assert is_signed_in(signed_in)


# --- exempt paths -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/sso/logout/", 200),  # its confirmation page
        ("/sso/callback/", 400),  # its own answer to a callback without a login under way
        ("/static/app.js", 404),  # reaches URL resolution: nothing serves static files here
    ],
)
def test_logout_callback_and_static_paths_pass_after_the_deadline(signed_in, clock, path, status):
    clock.at = AFTER_DEADLINE

    response = signed_in.get(path)

    assert response.status_code == status
    assert REFRESH_HEADER not in response


@pytest.mark.django_db
def test_media_files_pass_after_the_deadline(signed_in, clock, settings):
    settings.MEDIA_URL = "/media/"
    clock.at = AFTER_DEADLINE

    assert signed_in.get("/media/avatar.png").status_code == 404
    assert signed_in.get("/me/").status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("exempt", "method", "path"),
    [
        ("/form/", "post", "/form/"),
        ("/form", "put", "/form/"),
        ("me", "get", "/me/"),
    ],
    ids=["path-prefix", "path-prefix-without-slash", "url-name"],
)
def test_exempt_paths_setting_lets_requests_through_after_the_deadline(
    signed_in, clock, processed, settings, exempt, method, path
):
    settings.LOGOUT_SSO = {"EXEMPT_PATHS": [exempt]}
    clock.at = AFTER_DEADLINE

    response = getattr(signed_in, method)(path)

    assert response.status_code == 200
    assert processed == [f"{method.upper()} {path}"]


@pytest.mark.django_db
def test_exempting_one_path_leaves_the_others_rechecked(signed_in, clock, processed, settings):
    settings.LOGOUT_SSO = {"EXEMPT_PATHS": ["me"]}
    clock.at = AFTER_DEADLINE

    assert signed_in.post("/form/").status_code == 401
    assert processed == []


# --- who is re-checked --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_user_signed_in_with_a_password_is_never_rechecked(client, clock, processed):
    client.force_login(User.objects.create_user("admin", password="pw", is_staff=True))
    clock.at = AFTER_DEADLINE * 10

    response = client.post("/form/")

    assert response.status_code == 200
    assert processed == ["POST /form/"]
    assert is_signed_in(client)


@pytest.mark.django_db
def test_an_anonymous_user_is_never_rechecked(client, clock, processed):
    clock.at = AFTER_DEADLINE

    assert client.post("/form/").status_code == 200
    assert processed == ["POST /form/"]


@pytest.mark.django_db
def test_a_shorter_ttl_applies_at_once_to_existing_sessions(signed_in, acme, clock):
    clock.at = SIGNED_IN_AT + 300
    assert signed_in.get("/me/").status_code == 200  # the 600 s policy is now cached

    policy = acme.logout_policy
    policy.session_ttl = 120
    policy.save()

    response = signed_in.get("/me/")
    assert response.status_code == 302
    assert "prompt=none" in response["Location"]


@pytest.mark.django_db
def test_a_longer_ttl_applies_at_once_to_existing_sessions(signed_in, acme, clock):
    clock.at = AFTER_DEADLINE
    assert signed_in.get("/me/").status_code == 302

    policy = acme.logout_policy
    policy.session_ttl = 900
    policy.save()

    assert signed_in.get("/me/").status_code == 200


@pytest.mark.django_db
def test_a_deleted_organizations_session_is_let_through(signed_in, acme, clock, processed):
    assert signed_in.get("/me/").status_code == 200  # its policy is cached
    acme.delete()
    clock.at = AFTER_DEADLINE

    response = signed_in.get("/me/")

    assert response.status_code == 200
    assert processed == ["GET /me/", "GET /me/"]
