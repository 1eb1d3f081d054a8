"""The hub's admin actions: log a user out everywhere, log out an organization, retry."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.urls import reverse

from logout_sso import tasks
from logout_sso.models import Delivery, LogoutEvent, OrganizationLogoutJob, TrackedSession
from logout_sso.models.events import DeliveryState, Outcome

IDP = "https://idp.example.com/"


@pytest.fixture
def world(make_organization, make_application):
    acme, globex = make_organization("acme"), make_organization("globex")
    wiki = make_application("wiki", acme, globex)
    crm = make_application("crm", acme)
    for number, (application, organization, sub) in enumerate(
        [(wiki, acme, "alice"), (crm, acme, "alice"), (wiki, acme, "bob"), (wiki, globex, "carol")]
    ):
        TrackedSession.objects.create(
            application=application,
            organization=organization,
            issuer=IDP,
            sub=sub,
            session_id=f"s{number}",
        )
    return acme, globex


@pytest.fixture
def root(client):
    user = User.objects.create_superuser("root", password="pw")
    client.force_login(user)
    return user


def changelist(model: str) -> str:
    return reverse(f"admin:logout_sso_{model}_changelist")


def messages_of(response) -> list[str]:
    return [message.message for message in get_messages(response.wsgi_request)]


@pytest.mark.django_db
def test_log_out_a_user_everywhere_from_their_session(
    client, root, world, queued, django_capture_on_commit_callbacks
):
    session = TrackedSession.objects.get(sub="alice", application__name="wiki")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            changelist("trackedsession"),
            {
                "action": "log_out_users_everywhere",
                "_selected_action": [session.pk],
                "confirm": "yes",
            },
            follow=True,
        )

    event = LogoutEvent.objects.get()
    assert (event.initiator, event.sub, event.initiated_by_user) == ("admin", "alice", root)
    assert sorted(event.deliveries.values_list("application__name", flat=True)) == ["crm", "wiki"]
    assert queued == [event.pk]
    assert not TrackedSession.objects.live().filter(sub="alice").exists()
    assert TrackedSession.objects.live().filter(sub="bob").exists()
    assert "1 user logged out: 2 back-channel logouts queued." in messages_of(response)


@pytest.mark.django_db
def test_log_out_a_user_found_by_searching_asks_first_and_says_how_many(
    client, root, world, queued
):
    TrackedSession.objects.filter(sub="alice").update(email="alice@acme.example")
    listing = changelist("trackedsession") + "?q=alice%40acme.example"

    response = client.post(
        listing,
        {"action": "log_out_users_everywhere", "_selected_action": [0], "select_across": "1"},
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "This logs out 1 user" in page
    assert "(2 sessions" in page
    assert "in 2 applications)" in page
    assert "alice (alice@acme.example), Acme" in page
    assert 'name="select_across" value="1"' in page
    assert not LogoutEvent.objects.exists()

    response = client.post(
        listing,
        {
            "action": "log_out_users_everywhere",
            "_selected_action": [0],
            "select_across": "1",
            "confirm": "yes",
        },
        follow=True,
    )

    assert LogoutEvent.objects.get().sub == "alice"
    assert "1 user logged out: 2 back-channel logouts queued." in messages_of(response)
    assert TrackedSession.objects.live().filter(sub="bob").exists()


@pytest.mark.django_db
def test_log_out_an_organization_asks_first_and_says_how_many(client, root, world, queued):
    acme, _globex = world

    response = client.post(
        changelist("organization"),
        {"action": "log_out_everyone", "_selected_action": [acme.pk]},
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "This logs out 2 users" in page
    assert "(3 sessions" in page
    assert "in 2 applications)" in page
    assert not LogoutEvent.objects.exists()


@pytest.mark.django_db
def test_log_out_an_organization_once_confirmed(client, root, world, monkeypatch):
    acme, _globex = world
    started: list[int] = []
    monkeypatch.setattr(
        tasks.run_organization_logout, "delay", lambda job_id, _: started.append(job_id)
    )

    response = client.post(
        changelist("organization"),
        {"action": "log_out_everyone", "_selected_action": [acme.pk], "confirm": "yes"},
        follow=True,
    )

    job = OrganizationLogoutJob.objects.get()
    assert (job.organization, job.requested_by, job.users_total) == (acme, root, 2)
    assert response.redirect_chain[-1][0] == reverse(
        "admin:logout_sso_organizationlogoutjob_change", args=[job.pk]
    )
    assert any("in the background" in message for message in messages_of(response))
    # The job's batches run in the workers (tests/hub/test_organization_logout.py).
    assert TrackedSession.objects.live().filter(organization=acme).count() == 3


@pytest.mark.django_db
def test_retry_failed_deliveries(client, root, world, queued, django_capture_on_commit_callbacks):
    acme, _globex = world
    event = LogoutEvent.objects.create(
        initiator="api", issuer=IDP, sub="alice", organization=acme, outcome=Outcome.FAILED
    )
    failed = Delivery.objects.create(
        event=event,
        application=acme.applications.get(name="wiki"),
        state=DeliveryState.FAILED,
        attempts=3,
        last_status=400,
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            changelist("logoutevent"),
            {"action": "retry_failed_deliveries", "_selected_action": [event.pk]},
            follow=True,
        )

    failed.refresh_from_db()
    event.refresh_from_db()
    assert (failed.state, failed.attempts) == (DeliveryState.PENDING, 0)
    assert (event.outcome, event.completed_at) == (Outcome.PENDING, None)
    assert queued == [event.pk]
    assert "1 failed delivery queued again." in messages_of(response)


@pytest.mark.django_db
def test_org_admin_cannot_log_out_another_organization(client, world, make_org_admin, queued):
    acme, globex = world
    client.force_login(make_org_admin("alice-admin", acme))

    client.post(
        changelist("organization"),
        {"action": "log_out_everyone", "_selected_action": [globex.pk], "confirm": "yes"},
    )

    assert not OrganizationLogoutJob.objects.exists()
    assert TrackedSession.objects.live().filter(organization=globex).exists()


@pytest.mark.django_db
def test_org_admin_cannot_log_out_another_organizations_user(client, world, make_org_admin, queued):
    acme, _globex = world
    carol = TrackedSession.objects.get(sub="carol")  # globex's
    client.force_login(make_org_admin("alice-admin", acme))

    for confirm in ("", "yes"):
        response = client.post(
            changelist("trackedsession"),
            {
                "action": "log_out_users_everywhere",
                "_selected_action": [carol.pk],
                "confirm": confirm,
            },
        )
        assert "carol" not in response.content.decode()

    assert not LogoutEvent.objects.exists()
    assert TrackedSession.objects.live().filter(sub="carol").exists()
