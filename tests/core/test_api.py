"""The public API (``logout_sso.api``), as an integrator's code calls it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from logout_sso import api
from logout_sso.models import Application, LogoutEvent, TrackedSession
from logout_sso.rp.internal import hub_membership
from tests.hub_receivers import IDP_ISSUER, register_application, track_session
from tests.signing_in import is_signed_in, sign_in_through_idp

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def nothing_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deliveries are queued, never sent: these tests look at what is recorded."""
    monkeypatch.setattr("logout_sso.tasks.deliver_event.delay", lambda *message: None)


@pytest.fixture
def tenants(make_organization):
    acme, globex = make_organization("acme"), make_organization("globex")
    wiki, _ = register_application("wiki", acme, globex, uri="https://wiki.example.com/bcl")
    return acme, globex, wiki


def test_log_out_user_records_an_event_and_ends_the_users_sessions_there(tenants):
    acme, globex, wiki = tenants
    root = User.objects.create_superuser("root")
    in_acme = track_session(wiki, acme, "alice")
    in_globex = track_session(wiki, globex, "alice")

    event = api.log_out_user(
        acme, initiator=api.Initiator.ADMIN, issuer=IDP_ISSUER, sub="alice", by_user=root
    )

    assert event is not None
    assert (event.initiator, event.initiated_by_user, event.organization) == ("admin", root, acme)
    assert [delivery.application for delivery in event.deliveries.all()] == [wiki]
    in_acme.refresh_from_db()
    in_globex.refresh_from_db()
    assert (in_acme.end_reason, in_globex.ended_at) == ("logout", None)


def test_log_out_user_with_nothing_to_end_records_nothing(tenants):
    acme, _globex, _wiki = tenants

    assert api.log_out_user(acme, initiator=api.Initiator.API, issuer=IDP_ISSUER, sub="x") is None
    assert not LogoutEvent.objects.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"initiator": api.Initiator.ADMIN}, "Name the user"),
        ({"initiator": "the intern", "sub": "alice"}, "is not a valid Initiator"),
    ],
)
def test_log_out_user_refuses_what_names_nobody_or_nothing(tenants, arguments, message):
    acme, _globex, wiki = tenants
    track_session(wiki, acme, "alice")

    with pytest.raises(ValueError, match=message):
        api.log_out_user(acme, issuer=IDP_ISSUER, **arguments)


def test_log_out_users_by_email_stays_in_the_organization(tenants):
    acme, globex, wiki = tenants
    TrackedSession.objects.create(
        application=wiki, organization=acme, issuer=IDP_ISSUER, sub="a1", session_id="1",
        email="Pat@Acme.example",
    )  # fmt: skip
    TrackedSession.objects.create(
        application=wiki, organization=globex, issuer=IDP_ISSUER, sub="g1", session_id="2",
        email="pat@acme.example",
    )  # fmt: skip

    events = api.log_out_users_by_email(acme, "pat@acme.example", initiator=api.Initiator.ADMIN)

    assert [(event.sub, event.organization) for event in events] == [("a1", acme)]
    assert TrackedSession.objects.live().get().sub == "g1"


def test_log_out_user_ends_the_users_sessions_in_this_project_too(tenants):
    acme, globex, wiki = tenants
    track_session(wiki, acme, "alice")
    here, in_globex = Client(), Client()
    sign_in_through_idp(here, acme, issuer=IDP_ISSUER, sub="alice", sid="s1")
    sign_in_through_idp(in_globex, globex, username="a2", issuer=IDP_ISSUER, sub="alice")

    event = api.log_out_user(acme, initiator=api.Initiator.ADMIN, issuer=IDP_ISSUER, sub="alice")

    assert event is not None
    assert event.sessions_ended == 1
    assert (is_signed_in(here), is_signed_in(in_globex)) == (False, True)


@pytest.mark.django_db(transaction=True)
def test_log_out_user_takes_no_savepoint(tenants):
    """A logout is one transaction: no part of it sets a savepoint of its own (a SAVEPOINT
    and a RELEASE are two more round trips to the database on the session API's critical
    path)."""
    acme, _globex, wiki = tenants
    track_session(wiki, acme, "alice")
    sign_in_through_idp(Client(), acme, issuer=IDP_ISSUER, sub="alice", sid="s1")

    with CaptureQueriesContext(connection) as queries:
        api.log_out_user(acme, initiator=api.Initiator.API, issuer=IDP_ISSUER, sub="alice")

    assert [query["sql"] for query in queries if "SAVEPOINT" in query["sql"].upper()] == []


def test_log_out_user_signed_in_only_here_is_recorded(tenants):
    acme, _globex, _wiki = tenants
    here = Client()
    sign_in_through_idp(here, acme, issuer=IDP_ISSUER, sub="alice", sid="s1")

    event = api.log_out_user(acme, initiator=api.Initiator.ADMIN, issuer=IDP_ISSUER, sub="alice")

    assert event is not None
    assert (event.sessions_ended, event.deliveries.count(), event.outcome) == (1, 0, "completed")
    assert not is_signed_in(here)


def test_log_out_organization_starts_a_background_job(
    tenants, monkeypatch, django_capture_on_commit_callbacks
):
    acme, globex, wiki = tenants
    for sub in ("alice", "bob"):
        track_session(wiki, acme, sub)
    track_session(wiki, globex, "gina")
    started: list[int] = []
    monkeypatch.setattr(
        "logout_sso.tasks.run_organization_logout.delay", lambda job_id, _: started.append(job_id)
    )

    with django_capture_on_commit_callbacks(execute=True):  # Queued once committed.
        job = api.log_out_organization(acme)

    assert (job.organization, job.users_total, job.state) == (acme, 2, "queued")
    assert api.organization_logout_progress(job).finished is False
    assert started == [job.pk]


def test_end_local_sessions_ends_this_projects_sessions_in_those_organizations(tenants):
    acme, globex, _wiki = tenants
    in_acme, in_globex = Client(), Client()
    sign_in_through_idp(in_acme, acme, issuer=IDP_ISSUER, sub="pat", sid="a")
    sign_in_through_idp(in_globex, globex, username="pat2", issuer=IDP_ISSUER, sub="pat", sid="b")

    ended = api.end_local_sessions(issuer=IDP_ISSUER, sub="pat", organizations=[acme])

    assert ended == 1
    assert (is_signed_in(in_acme), is_signed_in(in_globex)) == (False, True)
    assert not LogoutEvent.objects.exists()


def test_applications_are_added_rotated_and_disabled(tenants):
    application, credential = api.add_application(
        name="crm", client_id="crm", backchannel_logout_uri="https://crm.example.com/bcl",
        organization_slugs=["acme"],
    )  # fmt: skip
    _same, rotated = api.rotate_application_credential("crm")

    assert Application.authenticate(credential) is None
    assert Application.authenticate(rotated) == application
    assert api.disable_application("crm").enabled is False
    with pytest.raises(api.RegistrationError, match="No application with client id 'nope'"):
        api.disable_application("nope")


@pytest.mark.django_db(transaction=True)
def test_a_session_is_registered_at_and_removed_from_the_hub(live_server, settings, tenants):
    acme, _globex, wiki = tenants
    settings.LOGOUT_SSO = {
        "HUB_URL": f"{live_server.url}/sso/api/",
        "HUB_API_CREDENTIAL": wiki.rotate_credential(),
    }

    answer = api.register_session_at_hub(
        "session-key-1", organization=acme, issuer=IDP_ISSUER, sub="alice", sid="s1"
    )

    session = TrackedSession.objects.get()
    assert (
        answer["session_id"] == session.session_id == hub_membership.hub_session_id("session-key-1")
    )
    assert api.remove_session_at_hub("session-key-1") is True
    assert api.remove_session_at_hub("never-registered") is False
    session.refresh_from_db()
    assert session.end_reason == "removed"
