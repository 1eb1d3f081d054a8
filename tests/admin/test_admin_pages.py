"""What the admin's pages say, as a superuser reads them: delivery rows as sentences, the policy
inline's heading, logout events' start time and duration, tracked sessions' status filter."""

from __future__ import annotations

import html
import re
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from logout_sso import api
from logout_sso.models import Delivery, LogoutEvent, Organization, TrackedSession
from logout_sso.models.events import DeliveryState, Initiator, Outcome

ISSUER = "https://idp.example.com/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("root"))
    return client


@pytest.fixture
def acme(make_organization, make_application) -> Organization:
    organization: Organization = make_organization("acme")
    make_application("Billing", organization)
    return organization


def logout_of(organization: Organization, **fields) -> LogoutEvent:
    return LogoutEvent.objects.create(
        organization=organization, initiator=Initiator.ADMIN, issuer=ISSUER, sub="alice", **fields
    )


def test_a_delivery_row_reads_like_a_sentence(root, acme):
    event = logout_of(acme)
    Delivery.objects.create(
        event=event,
        application=acme.applications.get(),
        state=DeliveryState.DELIVERED,
        attempts=1,
    )

    page = root.get(reverse("admin:logout_sso_logoutevent_change", args=[event.pk])).content

    assert b"To Billing: delivered after 1 attempt." in page
    assert b"-&gt;" not in page


def test_a_pending_delivery_never_tried_says_so(acme):
    delivery = Delivery(event=logout_of(acme), application=acme.applications.get())

    assert str(delivery) == "To Billing: pending, not tried yet."


def test_the_policy_inline_names_its_organization_once(root, acme):
    page = root.get(reverse("admin:logout_sso_organization_change", args=[acme.pk])).content

    assert b"Logout policy of" not in page
    assert str(acme.logout_policy) == "Acme"


def test_logout_events_show_seconds_and_how_long_they_took(root, acme):
    started = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    quick, slow, pending = (logout_of(acme) for _ in range(3))
    LogoutEvent.objects.filter(pk=quick.pk).update(
        created_at=started, completed_at=started + timedelta(milliseconds=240)
    )
    LogoutEvent.objects.filter(pk=slow.pk).update(
        created_at=started, completed_at=started + timedelta(seconds=12.5), outcome=Outcome.PARTIAL
    )
    LogoutEvent.objects.filter(pk=pending.pk).update(created_at=started)

    page = root.get(reverse("admin:logout_sso_logoutevent_changelist")).content.decode()

    assert timezone.localtime(started).strftime("%Y-%m-%d %H:%M:%S") in page
    assert ">240 ms<" in page
    assert ">12.5 s<" in page
    assert "column-duration" in page


def test_tracked_sessions_filter_by_status(root, acme):
    billing = acme.applications.get()
    now = timezone.now()
    kinds: list[dict[str, Any]] = [
        {},  # active
        {"ended_at": now, "end_reason": "logout"},
        {"expires_at": now - timedelta(minutes=1)},  # expired, not yet closed
    ]
    for number, fields in enumerate(kinds):
        TrackedSession.objects.create(
            application=billing,
            organization=acme,
            issuer=ISSUER,
            sub=f"user-{number}",
            session_id=f"s{number}",
            **fields,
        )
    listing = reverse("admin:logout_sso_trackedsession_changelist")

    def subs(status: str) -> list[str]:
        response = root.get(listing, {"status": status})
        return sorted(session.sub for session in response.context["cl"].result_list)

    assert subs("active") == ["user-0"]
    assert subs("ended") == ["user-1", "user-2"]
    page = root.get(listing).content.decode()
    assert "By status" in page
    assert "By ended at" not in page


def test_a_session_links_to_its_users_logout_events(root, acme, make_organization):
    globex = make_organization("globex")
    session = TrackedSession.objects.create(
        application=acme.applications.get(),
        organization=acme,
        issuer=ISSUER,
        sub="alice",
        session_id="s1",
    )
    mine, _other_user = logout_of(acme), logout_of(acme, sid="x")
    LogoutEvent.objects.filter(pk=_other_user.pk).update(sub="bob")
    logout_of(globex)  # The same sub in another organization: not this user's logouts here.
    listing = root.get(reverse("admin:logout_sso_trackedsession_changelist")).content.decode()
    link = re.search(r'<a href="([^"]+)">this user&#x27;s logouts</a>', listing)
    assert link is not None, listing
    assert session.sub in html.unescape(link.group(1))

    events = root.get(html.unescape(link.group(1)))

    assert events.status_code == 200
    assert list(events.context["cl"].result_list) == [mine]


def test_users_are_shown_by_name_or_email_not_their_hashed_username(root, acme):
    hashed = User.objects.create_user(
        "RbPXTSG1cVkFMxxSUNd7U8D3Dss", email="ada@acme.example", first_name="Ada",
        last_name="Lovelace",
    )  # fmt: skip
    only_email = User.objects.create_user("x0XCWVA9vo", email="grace@acme.example")
    acme.admins.add(hashed)
    event = logout_of(acme, initiated_by_user=only_email)
    job = api.log_out_organization(acme, by_user=hashed)

    organization_page = root.get(
        reverse("admin:logout_sso_organization_change", args=[acme.pk])
    ).content.decode()
    event_page = root.get(
        reverse("admin:logout_sso_logoutevent_change", args=[event.pk])
    ).content.decode()
    job_page = root.get(
        reverse("admin:logout_sso_organizationlogoutjob_change", args=[job.pk])
    ).content.decode()

    assert "Ada Lovelace &lt;ada@acme.example&gt;" in organization_page
    assert "grace@acme.example" in event_page
    assert "Ada Lovelace &lt;ada@acme.example&gt;" in job_page
    assert "RbPXTSG1cVkFMxxSUNd7U8D3Dss" not in organization_page + job_page


def test_logout_events_filter_by_date(root, acme):
    old, recent = logout_of(acme), logout_of(acme)
    LogoutEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    listing = reverse("admin:logout_sso_logoutevent_changelist")
    page = root.get(listing).content.decode()
    past_week = re.search(r'<a href="([^"]+)">Past 7 days</a>', page)
    assert past_week is not None, page

    response = root.get(listing + html.unescape(past_week.group(1)))

    assert list(response.context["cl"].result_list) == [recent]


def test_logout_events_filter_by_a_range_of_days_both_included(root, acme):
    today = timezone.localdate()
    first, inside, last, after = (logout_of(acme) for _ in range(4))
    for event, days_ago, hour in ((first, 10, 0), (inside, 7, 12), (last, 5, 23), (after, 4, 0)):
        moment = timezone.make_aware(
            datetime.combine(today - timedelta(days=days_ago), time(hour, 30))
        )
        LogoutEvent.objects.filter(pk=event.pk).update(created_at=moment)
    listing = reverse("admin:logout_sso_logoutevent_changelist")
    page = root.get(listing, {"organization__id__exact": acme.pk}).content.decode()
    assert 'type="date" name="created_at__gte"' in page
    assert f'type="hidden" name="organization__id__exact" value="{acme.pk}"' in page

    # What the form sends: from 8 days ago to 5 days ago.
    response = root.get(
        listing,
        {
            "organization__id__exact": acme.pk,
            "created_at__gte": str(today - timedelta(days=8)),
            "created_at__lt": str(today - timedelta(days=5)),
        },
    )

    assert response.status_code == 200
    assert set(response.context["cl"].result_list) == {inside, last}
    assert f'value="{today - timedelta(days=8)}"' in response.content.decode()


def test_a_day_that_is_no_day_is_said_not_a_500(root, acme):
    listing = reverse("admin:logout_sso_logoutevent_changelist")

    response = root.get(listing, {"created_at__gte": "2026-13-45"})

    assert response.status_code == 302
    assert "e=1" in response.url
