"""The admin's logout health page: its figures and charts, scoped to the viewer's organizations."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from logout_sso.admin.charts import BarChart, Series, nice_ceiling
from logout_sso.internal import health
from logout_sso.internal.health import percentiles
from logout_sso.models import Application, Delivery, LogoutEvent, TrackedSession
from logout_sso.models.events import DeliveryState, Outcome

IDP = "https://idp.example.com/"


def logout(organization, ago: timedelta, *deliveries: tuple[Application, str, int | None, str]):
    """A logout event of ``organization`` that began ``ago``, with its deliveries, each
    ``(application, state, latency_ms, last_error)``."""
    states = {state for _application, state, _latency, _error in deliveries}
    outcome = Outcome.PENDING if DeliveryState.PENDING in states else Outcome.COMPLETED
    event = LogoutEvent.objects.create(
        organization=organization, initiator="user", sub="u", outcome=outcome
    )
    created_at = timezone.now() - ago
    LogoutEvent.objects.filter(pk=event.pk).update(created_at=created_at)
    for application, state, latency, error in deliveries:
        delivery = Delivery.objects.create(
            event=event,
            application=application,
            state=state,
            latency_ms=latency,
            last_error=error,
            attempts=1,
            delivered_at=created_at + timedelta(milliseconds=latency or 0)
            if state == DeliveryState.DELIVERED
            else None,
        )
        Delivery.objects.filter(pk=delivery.pk).update(created_at=created_at)
    return event


def session(application, organization, sub: str, ago: timedelta = timedelta(0)):
    tracked = TrackedSession.objects.create(
        application=application, organization=organization, issuer=IDP, sub=sub, session_id=sub
    )
    TrackedSession.objects.filter(pk=tracked.pk).update(created_at=timezone.now() - ago)
    return tracked


@pytest.fixture
def world(make_organization, make_application):
    """Acme: Wiki delivers (100, 200, 300 ms), CRM fails; Ledger, registered ten days ago, never
    had a session. Globex: its own failure to Wiki, with an error Acme must not read."""
    acme, globex = make_organization("acme"), make_organization("globex")
    wiki = make_application("Wiki", acme, globex)
    crm = make_application("CRM", acme)
    ledger = make_application("Ledger", acme)
    Application.objects.filter(pk=ledger.pk).update(created_at=timezone.now() - timedelta(days=10))
    session(wiki, acme, "alice")
    session(crm, acme, "alice")
    session(wiki, acme, "bob")
    session(wiki, globex, "carol")
    hour = timedelta(hours=1)
    for number, latency in enumerate([100, 200, 300]):
        logout(
            acme,
            hour * (number + 1),
            (wiki, DeliveryState.DELIVERED, latency, ""),
            (crm, DeliveryState.FAILED, None, "HTTP 500: CRM is down"),
        )
    logout(acme, timedelta(days=3), (wiki, DeliveryState.DELIVERED, 400, ""))
    logout(acme, timedelta(days=40), (wiki, DeliveryState.FAILED, None, "long ago"))
    logout(globex, hour, (wiki, DeliveryState.FAILED, None, "globex's own secret error"))
    return acme, globex


def health_url(organization=None) -> str:
    if organization is None:
        return reverse("admin:logout_sso_logouthealth_changelist")
    return reverse("admin:logout_sso_logouthealth_organization", args=[organization.pk])


@pytest.mark.django_db
def test_an_organization_s_figures_count_its_own_logouts_over_30_days(world):
    acme, _globex = world

    figures = health.collect(acme.__class__.objects.filter(pk=acme.pk))

    assert figures.live_sessions == 3
    assert figures.logouts_last_24h == 3
    assert sum(figures.by_day(figures.logouts_by_hour)) == 4  # Not the one 40 days ago.
    assert figures.deliveries_last_24h(DeliveryState.DELIVERED) == 3
    assert figures.deliveries_last_24h(DeliveryState.FAILED) == 3
    rows = {row.application.name: row for row in figures.applications}
    assert (rows["Wiki"].delivered, rows["Wiki"].failed, rows["Wiki"].live_sessions) == (4, 0, 2)
    assert rows["Wiki"].latency == health.Percentiles(p50=200, p95=400, p99=400, count=4)
    assert [(row.application.name, row.last_error) for row in figures.failing] == [
        ("CRM", "HTTP 500: CRM is down")
    ]
    assert [(row.application.name, why) for row, why in figures.silent] == [
        ("CRM", "Logouts sent in the last 7 days, none acknowledged."),
        ("Ledger", "No session registered in 7 days."),
    ]


@pytest.mark.django_db
def test_the_page_shows_charts_failing_and_silent_applications(client, world, make_org_admin):
    acme, _globex = world
    client.force_login(make_org_admin("ada", acme))

    response = client.get(health_url(acme))

    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="logout-sso-chart"') == 4
    for title in ("Logouts, last 24 hours", "Deliveries to applications, last 30 days"):
        assert f">{title}</title>" in page
    assert "Deliveries per hour" in page
    assert "Hour starting (UTC)" in page
    assert "HTTP 500: CRM is down" in page
    assert "200 / 400 / 400 ms" in page
    assert "No session registered in 7 days." in page
    assert "globex" not in page.lower()
    failing_link = re.search(r'href="([^"]*failed_to=[^"]*)"', page)
    assert failing_link is not None
    events = client.get(failing_link.group(1).replace("&amp;", "&"))
    assert events.status_code == 200
    assert events.context["cl"].result_count == 3


@pytest.mark.django_db
def test_another_organization_s_health_page_is_not_found(client, world, make_org_admin):
    acme, globex = world
    client.force_login(make_org_admin("ada", acme))

    assert client.get(health_url(globex)).status_code == 404
    assert client.get(health_url(acme)).status_code == 200
    # The page across organizations takes an admin of one to theirs.
    assert client.get(health_url()).url == health_url(acme)


@pytest.mark.django_db
def test_the_failing_deliveries_filter_offers_only_the_admin_s_applications(
    client, world, make_org_admin, make_application, make_organization
):
    acme, _globex = world
    make_application("Initech portal", make_organization("initech"))
    client.force_login(make_org_admin("ada", acme))

    page = client.get(reverse("admin:logout_sso_logoutevent_changelist")).content.decode()

    assert "delivery failed to" in page
    assert "CRM" in page
    assert "Initech portal" not in page


@pytest.mark.django_db
def test_a_superuser_sees_every_organization_together(client, world):
    client.force_login(User.objects.create_superuser("root", password="pw"))

    page = client.get(health_url()).content.decode()

    assert "Logout health: all organizations" in page
    assert "globex&#x27;s own secret error" in page
    assert "HTTP 500: CRM is down" in page
    assert ">4<" in page.replace(" ", "")  # Live sessions of both organizations.


@pytest.mark.django_db
def test_an_admin_of_several_organizations_sees_them_together_with_links(
    client, world, make_org_admin
):
    acme, globex = world
    client.force_login(make_org_admin("ada", acme, globex))

    page = client.get(health_url()).content.decode()

    assert "Logout health: your organizations" in page
    assert health_url(acme) in page
    assert health_url(globex) in page


@pytest.mark.django_db
def test_staff_without_the_organization_permission_gets_nothing(client, world):
    acme, _globex = world
    staff = User.objects.create_user("intern", password="pw", is_staff=True)
    acme.admins.add(staff)
    client.force_login(staff)

    assert client.get(health_url(acme)).status_code == 404
    assert client.get(health_url()).status_code == 404
    assert health_url() not in client.get(reverse("admin:index")).content.decode()


@pytest.mark.django_db
def test_linked_from_the_admin_index_and_the_organization_page(client, world, make_org_admin):
    acme, _globex = world
    client.force_login(make_org_admin("ada", acme))

    index = client.get(reverse("admin:index")).content.decode()
    organization_page = client.get(
        reverse("admin:logout_sso_organization_change", args=[acme.pk])
    ).content.decode()

    assert f'href="{health_url()}"' in index
    assert "Logout health" in index
    assert f'href="{health_url(acme)}"' in organization_page


@pytest.mark.django_db
def test_the_oldest_pending_delivery_links_to_the_pending_logouts(client, world, make_org_admin):
    acme, _globex = world
    wiki = Application.objects.get(name="Wiki")
    event = logout(acme, timedelta(hours=5), (wiki, DeliveryState.PENDING, None, ""))
    logout(acme, timedelta(hours=1), (wiki, DeliveryState.PENDING, None, ""))
    client.force_login(make_org_admin("ada", acme))

    page = client.get(health_url(acme)).content.decode()

    link = re.search(r'href="([^"]*outcome__exact=pending[^"]*)">oldest: 5\xa0hours \(Wiki\)', page)
    assert link is not None
    pending = client.get(link.group(1).replace("&amp;", "&"))
    assert list(pending.context["cl"].result_list) == [
        event,
        *pending.context["cl"].result_list[1:],
    ]
    assert pending.context["cl"].result_count == 2


def test_percentiles_are_the_smallest_values_with_that_share_at_or_below():
    assert percentiles([(900, 5), (100, 50), (200, 45)]) == health.Percentiles(
        p50=100, p95=200, p99=900, count=100
    )
    assert percentiles([(7, 1)]) == health.Percentiles(p50=7, p95=7, p99=7, count=1)
    assert percentiles([]) is None


def test_a_chart_has_a_title_axes_units_and_a_tooltip_per_bar():
    chart = BarChart(
        "deliveries",
        "Deliveries <last day>",
        "Hour (UTC)",
        "Deliveries per hour",
        ["00:00", "01:00"],
        [Series("Delivered", "#2e7d32", [3, 0]), Series("Failed", "#c62828", [1, 2])],
    )

    svg = chart.svg()

    assert svg.startswith("<svg")
    assert 'role="img"' in svg
    assert "Deliveries &lt;last day&gt;" in svg  # Escaped.
    assert "Hour (UTC)" in svg
    assert "Deliveries per hour" in svg
    assert svg.count("<rect") == 2 + 3  # Two legend swatches, three bars.
    assert "<title>00:00: 3 delivered</title>" in svg
    assert [nice_ceiling(n) for n in (0, 1, 3, 7, 10, 11, 2001)] == [1, 1, 5, 10, 10, 20, 5000]


@pytest.mark.parametrize(
    ("top_value", "ticks"),
    [
        (1, ["0", "1"]),
        (2, ["0", "1", "2"]),
        (5, ["0", "1", "2", "3", "4", "5"]),
        (20, ["0", "5", "10", "15", "20"]),
        (5000, ["0", "1,000", "2,000", "3,000", "4,000", "5,000"]),
    ],
)
def test_the_vertical_axis_has_round_ticks(top_value, ticks):
    chart = BarChart("c", "C", "x", "y", ["a"], [Series("S", "#000", [top_value])])

    assert [tick.label for tick in chart.y_ticks()] == ticks


@pytest.mark.django_db
def test_latencies_are_grouped_at_two_significant_digits(world):
    acme, _globex = world
    wiki = Application.objects.get(name="Wiki")
    Delivery.objects.filter(application=wiki).update(latency_ms=12_345)

    figures = health.collect(acme.__class__.objects.filter(pk=acme.pk))

    rows = {row.application.name: row for row in figures.applications}
    assert rows["Wiki"].latency == health.Percentiles(p50=12_000, p95=12_000, p99=12_000, count=4)
