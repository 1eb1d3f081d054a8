"""An organization's admin in the Django admin, in headless Chromium: signing in through the
login form, the auto-forward trap's warning, logging one user out by searching for them,
following a logout's deliveries, and the logout events' columns at 1400 px.

Each test asserts what the page shows and leaves screenshots in its output directory.
"""

from __future__ import annotations

import re

from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from logout_sso.models import LogoutEvent, TrackedSession
from logout_sso.models.events import Initiator
from logout_sso.models.organizations import SLOMode
from tests.browser.conftest import VIEWPORT, Fleet, Shoot, sign_in_to_admin


def messages(page: Page, level: str) -> list[str]:
    """The texts of the admin's messages of a level (success, warning, error) on the page."""
    return page.locator(f"ul.messagelist li.{level}").all_inner_texts()


def row(page: Page, text: str):
    """The one row of the change list's results that contains ``text``."""
    rows = page.locator("#result_list tbody tr").filter(has_text=text)
    expect(rows).to_have_count(1)
    return rows


def test_an_organization_admin_signs_in_through_the_login_form(
    page: Page, acme_admin: User, shoot: Shoot
):
    page.goto("/admin/")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    shoot("login-form")

    sign_in_to_admin(page, "ada")

    expect(page.locator("#user-tools")).to_contain_text("Welcome, Ada.")
    models = page.locator("#content-main")
    for name in ("Organizations", "Applications", "Tracked sessions", "Logout events"):
        expect(models.get_by_role("link", name=name, exact=True)).to_be_visible()
    # Django's users and groups are a superuser's, not an organization admin's.
    expect(models.get_by_role("link", name="Users", exact=True)).to_have_count(0)
    shoot("admin-index")


def test_the_auto_forward_trap_is_warned_of_after_saving_on_reopening_and_in_the_list(
    admin_page: Page, fleet: Fleet, shoot: Shoot
):
    page = admin_page
    page.locator("#content-main").get_by_role("link", name="Organizations").click()
    page.get_by_role("link", name="Acme", exact=True).click()
    expect(page.get_by_role("heading", name="Change organization")).to_be_visible()
    expect(page.locator("ul.messagelist li.warning")).to_have_count(0)

    # Forwarded to its own IdP, re-checked by short-lived tokens, no federated logout: the
    # silent re-check succeeds at Acme's IdP after a logout.
    page.get_by_label("Auto-forward to the enterprise connection").check()
    page.get_by_label("Single Logout mode").select_option(SLOMode.SHORT_LIVED_TOKENS.value)
    page.get_by_label("Federated logout").uncheck()
    shoot("trap-about-to-be-saved")
    page.get_by_role("button", name="Save and continue editing").click()

    expect(page.locator("ul.messagelist li.success")).to_contain_text("was changed successfully")
    [warning] = messages(page, "warning")
    assert "acme" in warning
    assert "federated logout" in warning
    shoot("warning-after-saving")

    page.reload()  # A GET of the page: reopened, not just saved.
    expect(page.locator("ul.messagelist li.success")).to_have_count(0)
    assert messages(page, "warning") == [warning]
    shoot("warning-on-reopening")

    page.get_by_role("link", name="Organizations", exact=True).first.click()
    badge = row(page, "Acme").locator("td.field-single_logout_works .logout-sso-trap")
    expect(badge).to_have_text("⚠ auto-forward trap")
    expect(badge).to_have_attribute("title", re.compile("federated logout"))
    shoot("trap-badge-in-the-list")


def test_an_admin_logs_one_user_out_by_searching_for_them(
    admin_page: Page, fleet: Fleet, queued: list[int], shoot: Shoot
):
    page = admin_page
    page.locator("#content-main").get_by_role("link", name="Tracked sessions").click()
    page.locator("#searchbar").fill("alice@acme.example")
    page.locator("#searchbar").press("Enter")

    results = page.locator("#result_list tbody tr")
    expect(results).to_have_count(2)  # Billing and the Wiki; not Globex's Alice.
    expect(page.locator("#result_list")).not_to_contain_text("globex")
    page.locator("#action-toggle").check()
    page.locator("select[name=action]").select_option("log_out_users_everywhere")
    shoot("search-and-select")
    page.get_by_role("button", name="Go").click()

    expect(page.get_by_role("heading", name="Log these users out everywhere?")).to_be_visible()
    content = page.locator("#content")
    expect(content).to_contain_text("This logs out 1 user (2 sessions in 2 applications)")
    expect(content.get_by_role("listitem")).to_have_text(["auth0|alice (alice@acme.example), Acme"])
    assert not LogoutEvent.objects.filter(sub="auth0|alice").exists()  # Asked first.
    shoot("confirmation")
    page.get_by_role("button", name="Yes, log them out").click()

    expect(page.locator("ul.messagelist li")).to_have_text(
        ["1 user logged out: 2 back-channel logouts queued."]
    )
    shoot("logged-out")
    event = LogoutEvent.objects.get(sub="auth0|alice")
    assert queued == [event.pk]
    assert event.initiated_by_user is not None
    assert event.initiated_by_user.get_username() == "ada"
    live = TrackedSession.objects.live()
    assert not live.filter(organization=fleet.acme, sub="auth0|alice").exists()
    assert live.filter(organization=fleet.globex, sub="auth0|alice").exists()
    assert live.filter(sub="auth0|bob").exists()

    page.get_by_role("link", name="Active", exact=True).click()
    expect(page.locator("#result_list tbody tr")).to_have_count(0)
    expect(page.locator("#changelist-form")).to_contain_text("0 tracked sessions")


def test_an_admin_follows_the_deliveries_of_a_users_logout(
    admin_page: Page, fleet: Fleet, shoot: Shoot
):
    page = admin_page
    page.locator("#content-main").get_by_role("link", name="Tracked sessions").click()
    row(page, "carol@acme.example").get_by_role("link", name="this user's logouts").click()

    expect(page.get_by_role("heading", name="Select logout event to view")).to_be_visible()
    carols = row(page, "auth0|carol")
    expect(carols.locator("td.field-outcome")).to_have_text("Partially failed")
    expect(carols.locator("td.field-delivery_count")).to_have_text("2")
    shoot("the-users-logouts")
    carols.locator("th a").click()

    expect(page.get_by_role("heading", name="View logout event")).to_be_visible()
    labels = page.locator("fieldset.module .form-row label").all_inner_texts()
    assert len(labels) == len(set(labels)), labels  # Each field once.
    deliveries = page.locator("#deliveries-group")
    expect(deliveries.locator("td.original p")).to_have_text(
        ["To Billing: delivered after 1 attempt.", "To Wiki: failed after 3 attempts."]
    )
    wiki = deliveries.locator("tr.has_original").filter(has_text="To Wiki")
    expect(wiki.locator("td.field-last_status")).to_have_text("503")
    expect(wiki.locator("td.field-last_error")).to_have_text("HTTP 503: Service Unavailable")
    shoot("the-deliveries")


def test_logout_events_show_outcome_and_deliveries_without_scrolling_at_1400_px(
    admin_page: Page, fleet: Fleet, shoot: Shoot
):
    page = admin_page
    for number, initiator in enumerate(Initiator):  # The longest labels among them.
        LogoutEvent.objects.create(
            organization=fleet.acme,
            initiator=initiator,
            issuer="https://idp.example.com/",
            sub=f"auth0|6543e2f1a9b8c7d6e5f4a3b{number}",
            sid=f"5a7f0c1e-93b4-4d2a-b6e8-0f{number}c2d9e4a71",
        )
    page.locator("#content-main").get_by_role("link", name="Logout events").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(len(Initiator) + 1)
    assert page.viewport_size == VIEWPORT

    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    shoot("logout-events-at-1400px")

    assert scroll_width <= VIEWPORT["width"]
    for column in ("outcome", "delivery_count"):
        header = page.locator(f"#result_list th.column-{column}")
        expect(header).to_be_in_viewport(ratio=1)
        box = header.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= VIEWPORT["width"], column


def test_an_admin_opens_the_logout_health_page_and_sees_its_charts(
    admin_page: Page, fleet: Fleet, shoot: Shoot
):
    page = admin_page
    page.locator("#content-main").get_by_role("link", name="Logout health").click()

    # An admin of one organization lands on its page.
    expect(page.get_by_role("heading", name="Logout health: Acme")).to_be_visible()
    charts = page.locator("svg.logout-sso-chart")
    expect(charts).to_have_count(4)
    for index in range(4):
        expect(charts.nth(index)).to_be_visible()
        box = charts.nth(index).bounding_box()
        assert box is not None
        assert box["width"] > 300
        assert box["height"] > 100
    for title in ("Logouts, last 24 hours", "Deliveries to applications, last 30 days"):
        expect(page.locator("svg.logout-sso-chart title", has_text=title)).to_have_count(1)
    failing = page.locator("table", has_text="Last error")
    expect(failing).to_contain_text("Wiki")
    expect(failing).to_contain_text("HTTP 503: Service Unavailable")
    expect(page.locator("body")).not_to_contain_text("ERP")  # Globex's.
    shoot("health")

    failing.get_by_role("link", name="failing deliveries").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("auth0|carol")
    shoot("failing-deliveries")
