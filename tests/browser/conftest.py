"""Fixtures of the browser tests: headless Chromium driven by Playwright against pytest-django's
``live_server``, screenshots, signing a staff user in through the admin's login form, and the
organizations, sessions and logout events an organization admin looks at.

One Chromium for the whole session (``browser``), a new context and page per test (``page``:
1400 x 900, its URLs relative to the live server). Chromium is Debian's (``apt-get install
chromium chromium-driver``), never a build Playwright downloads; ``LOGOUT_SSO_TEST_CHROMIUM``
names another binary. Without it the tests fail, saying how to install it: CI must run them.

Screenshots go to ``$LOGOUT_SSO_TEST_OUTPUT/browser/<test name>/`` (default
``var/test-output`` of the checkout, git-ignored), emptied when the test starts:
``shoot("name")`` saves ``NN-name.png``, and a failing test gets ``failure.png`` of where its
page stood.

A new flow reuses these: ``admin_page`` is a page signed in as ``acme_admin`` (staff, in the
organization admins group, admin of Acme only) on the admin index, and ``acme`` has the
sessions, events and deliveries of a small fleet. A test of the logout health page, say::

    def test_the_health_page_shows_its_charts(admin_page, shoot):
        admin_page.goto("/admin/logout_sso/logouthealth/")
        expect(admin_page.locator("svg").first).to_be_visible()
        shoot("health")
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from logout_sso.models import Application, Delivery, LogoutEvent, Organization, TrackedSession
from logout_sso.models.events import DeliveryState, Initiator, Outcome
from tests.services import REPO_ROOT

CHROMIUM = os.environ.get("LOGOUT_SSO_TEST_CHROMIUM", "/usr/bin/chromium")
#: Where tests leave their files (a relative path is the checkout's).
OUTPUT = REPO_ROOT / os.environ.get("LOGOUT_SSO_TEST_OUTPUT", "var/test-output")
VIEWPORT: ViewportSize = {"width": 1400, "height": 900}
#: How long a step waits for what it expects to see (Playwright waits, never sleeps).
TIMEOUT_MS = 10_000
ISSUER = "https://idp.example.com/"
PASSWORD = "pw"  # make_org_admin's

expect.set_options(timeout=TIMEOUT_MS)


# --- The browser ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium, one for the test session."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"The browser tests need Chromium at {CHROMIUM}: install Debian's "
            "(apt-get install chromium chromium-driver), or set LOGOUT_SSO_TEST_CHROMIUM to "
            'another Chromium binary. Run the rest alone with -m "not integration".',
            pytrace=False,
        )
    # Playwright's event loop stays open in this thread between its calls: Django's ORM would
    # take the tests' own queries for calls from async code.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test, so ``page`` knows at teardown if it failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Path:
    """``$LOGOUT_SSO_TEST_OUTPUT/browser/<test name>/``, empty."""
    directory = OUTPUT / "browser" / re.sub(r"[^\w.-]+", "_", request.node.name)
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.png"):
        old.unlink()
    return directory


@pytest.fixture
def page(
    browser: Browser,
    live_server: LiveServer,
    output_dir: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Page]:
    """A new page at 1400 x 900 whose URLs are relative to the live server."""
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    call = getattr(request.node, "report_call", None)
    if call is not None and call.failed:
        tab.screenshot(path=output_dir / "failure.png", full_page=True)
    context.close()


Shoot = Callable[[str], Path]


@pytest.fixture
def shoot(page: Page, output_dir: Path) -> Shoot:
    """``shoot("name")``: a full-page screenshot ``NN-name.png``, numbered in order taken."""
    taken: list[Path] = []

    def screenshot(name: str) -> Path:
        path = output_dir / f"{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=path, full_page=True)
        taken.append(path)
        return path

    return screenshot


# --- Who and what the admin sees ------------------------------------------------------------


def sign_in_to_admin(page: Page, username: str, password: str = PASSWORD) -> None:
    """Through the admin's login form, as a person would; ends on the admin index."""
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()


@dataclass
class Fleet:
    """Acme with two applications and its users' sessions, and a past logout; Globex, another
    tenant, with a user of the same name."""

    acme: Organization
    globex: Organization
    billing: Application
    wiki: Application
    carols_logout: LogoutEvent


def track(application: Application, organization: Organization, sub: str, **fields: Any) -> None:
    TrackedSession.objects.create(
        application=application,
        organization=organization,
        issuer=ISSUER,
        sub=sub,
        session_id=f"{application.name}-{organization.slug}-{sub}",
        **fields,
    )


@pytest.fixture
def fleet(
    make_organization: Callable[..., Organization],
    make_application: Callable[..., Application],
) -> Fleet:
    """acme: Alice signed in to Billing and the Wiki, Bob to the Wiki, and Carol logged out a
    while ago (delivered to Billing, failed at the Wiki); globex: another Alice."""
    acme = make_organization("acme", idp_organization_id="org_acme", connection="acme-okta")
    globex = make_organization("globex", idp_organization_id="org_globex")
    billing = make_application("Billing", acme)
    wiki = make_application("Wiki", acme)
    erp = make_application("ERP", globex)
    track(billing, acme, "auth0|alice", email="alice@acme.example", sid="sid-alice")
    track(wiki, acme, "auth0|alice", email="alice@acme.example", sid="sid-alice")
    track(wiki, acme, "auth0|bob", email="bob@acme.example", sid="sid-bob")
    track(erp, globex, "auth0|alice", email="alice@globex.example", sid="sid-globex")
    now = timezone.now()
    track(
        billing,
        acme,
        "auth0|carol",
        email="carol@acme.example",
        ended_at=now - timedelta(minutes=5),
        end_reason="logout",
    )
    event = LogoutEvent.objects.create(
        organization=acme,
        initiator=Initiator.USER,
        issuer=ISSUER,
        sub="auth0|carol",
        sessions_ended=1,
        outcome=Outcome.PARTIAL,
    )
    LogoutEvent.objects.filter(pk=event.pk).update(
        created_at=now - timedelta(minutes=5),
        completed_at=now - timedelta(minutes=5) + timedelta(seconds=31.2),
    )
    Delivery.objects.create(
        event=event,
        application=billing,
        state=DeliveryState.DELIVERED,
        attempts=1,
        last_status=200,
        latency_ms=84,
        delivered_at=now - timedelta(minutes=5),
    )
    Delivery.objects.create(
        event=event,
        application=wiki,
        state=DeliveryState.FAILED,
        attempts=3,
        last_status=503,
        last_error="HTTP 503: Service Unavailable",
        latency_ms=2004,
    )
    event.refresh_from_db()
    return Fleet(acme, globex, billing, wiki, event)


@pytest.fixture
def acme_admin(fleet: Fleet, make_org_admin: Callable[..., User]) -> User:
    """Ada: staff, not a superuser, in the organization admins group, admin of Acme only."""
    ada = make_org_admin("ada", fleet.acme)
    ada.first_name, ada.last_name, ada.email = "Ada", "Lovelace", "ada@acme.example"
    ada.save()
    return ada


@pytest.fixture
def admin_page(page: Page, acme_admin: User) -> Page:
    """``page``, signed in to the admin as ``acme_admin``, on the admin index."""
    sign_in_to_admin(page, acme_admin.get_username())
    return page
