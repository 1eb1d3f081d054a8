"""The end user's pages in headless Chromium: the logout confirmation (a button that POSTs
with its CSRF token), and the page a form POST gets once the session's silent re-check is due
(what was sent is held back, not lost).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import Page, Route, expect
from pytest_django.fixtures import Settings as SettingsWrapper
from pytest_django.live_server_helper import LiveServer

from logout_sso.models import Organization
from tests import views
from tests.browser.conftest import Fleet, Shoot
from tests.signing_in import sign_in_through_idp

END_SESSION = "https://idp.example.com/session/end"


@pytest.fixture
def signed_in_alice(page: Page, live_server: LiveServer, fleet: Fleet) -> Organization:
    """The browser holds the session of Alice of Acme, signed in through the IdP just now."""
    session_key = sign_in_through_idp(Client(), fleet.acme, username="alice", sub="auth0|alice")
    page.context.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": session_key,
                "url": live_server.url,
            }
        ]
    )
    return fleet.acme


@pytest.fixture
def processed() -> Iterator[list[str]]:
    """The requests the test project's views processed."""
    views.PROCESSED.clear()
    yield views.PROCESSED
    views.PROCESSED.clear()


def signed_in_here(page: Page) -> bool:
    """What ``/me/`` tells this browser."""
    page.goto("/me/")
    return bool(json.loads(page.locator("body").inner_text())["authenticated"])


def test_the_logout_confirmation_posts_with_its_csrf_token(
    page: Page, signed_in_alice: Organization, settings: SettingsWrapper, shoot: Shoot
):
    settings.OIDC_RP_CLIENT_ID = "crm-client"
    settings.LOGOUT_SSO = {"END_SESSION_ENDPOINT": END_SESSION}

    def identity_provider(route: Route) -> None:
        route.fulfill(content_type="text/html", body="<h1>Signed out of the IdP</h1>")

    page.route(f"{END_SESSION}**", identity_provider)

    page.goto("/sso/logout/?next=/signed-out/")  # Where an application's logout link leads.

    expect(page).to_have_title("Log out")
    expect(page.get_by_role("heading", name="Log out?")).to_be_visible()
    button = page.get_by_role("button", name="Log out")
    expect(button).to_be_visible()
    form = page.locator("form").filter(has=button)
    expect(form).to_have_attribute("method", "post")
    expect(form).to_have_attribute("action", "/sso/logout/")
    token = form.locator("input[type=hidden][name=csrfmiddlewaretoken]")
    expect(token).to_have_value(re.compile(r"^\w{32,}$"))
    shoot("logout-confirmation")
    assert signed_in_here(page)  # Seeing the page logs nobody out.

    page.goto("/sso/logout/?next=/signed-out/")
    sent_token = token.get_attribute("value")
    with page.expect_request(lambda request: request.method == "POST") as posted:
        page.get_by_role("button", name="Log out").click()

    assert urlsplit(posted.value.url).path == "/sso/logout/"
    sent = parse_qs(posted.value.post_data or "")
    assert sent == {"csrfmiddlewaretoken": [sent_token], "next": ["/signed-out/"]}
    expect(page.get_by_role("heading", name="Signed out of the IdP")).to_be_visible()
    assert page.url.startswith(END_SESSION)
    assert parse_qs(urlsplit(page.url).query)["id_token_hint"] == ["x.y.z"]
    shoot("at-the-idps-logout")
    assert not signed_in_here(page)


def test_a_form_posted_after_the_recheck_deadline_is_held_and_the_page_says_so(
    page: Page,
    signed_in_alice: Organization,
    processed: list[str],
    monkeypatch: pytest.MonkeyPatch,
    shoot: Shoot,
):
    page.goto("/note/")
    page.get_by_label("Note").fill("Quarterly numbers, second draft")
    shoot("form-filled-in")
    ttl = signed_in_alice.logout_policy.session_ttl
    # The user went for coffee: the IdP last vouched for the session longer than the TTL ago.
    monkeypatch.setattr("logout_sso.rp.internal.state.now", lambda: time.time() + ttl + 60)

    with page.expect_response(lambda response: response.request.method == "POST") as held:
        page.get_by_role("button", name="Save").click()

    assert held.value.status == 401
    expect(page).to_have_title("Please confirm your session")
    expect(page.get_by_role("heading", name="Your session needs a quick check")).to_be_visible()
    expect(page.locator("body")).to_contain_text("What you just sent was not saved.")
    confirm = page.get_by_role("link", name="Confirm my session")
    expect(confirm).to_be_visible()
    refresh = urlsplit(confirm.get_attribute("href") or "")
    assert refresh.path == "/sso/login/"
    assert parse_qs(refresh.query) == {
        "organization": ["acme"],
        "next": ["/note/"],
        "prompt": ["none"],
    }
    assert processed == ["GET /note/"]  # The POST never reached the view.
    shoot("held-post")
