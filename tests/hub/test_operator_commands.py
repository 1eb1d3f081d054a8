"""The commands operators script: ``logout_sso_logout``, ``logout_sso_retry`` and
``logout_sso_status``; what a script sees of each (stdout, the one-line reason on stderr, the
exit code), every exit code of each.

``--wait`` runs against a real Celery worker process (``hub_worker``) and real receivers on
loopback; the rest needs no service (the "go" messages are kept, not sent: ``queued``).
"""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command, load_command_class
from django.test import Client
from django.utils import timezone

from logout_sso import tasks
from logout_sso.models import (
    Application,
    Delivery,
    LogoutEvent,
    Organization,
    OrganizationLogoutJob,
    PolicyMirror,
    TrackedSession,
)
from logout_sso.models.events import DeliveryState, Initiator
from logout_sso.models.jobs import JobState
from tests.hub_receivers import (
    IDP_ISSUER,
    Answer,
    hub_policy,
    register_application,
    slow,
    track_session,
)
from tests.services import wait_for
from tests.signing_in import is_signed_in, sign_in_through_idp

OTHER_ISSUER = "https://other-idp.example.com/"


class Terminal(StringIO):
    """A stream that says it is a terminal, as an operator's would."""

    def isatty(self) -> bool:
        return True


def run(command: str, *args: str, stderr: StringIO | None = None) -> str:
    """The command's stdout; it exits 0."""
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=stderr or StringIO())
    return out.getvalue()


def fails(command: str, *args: str) -> tuple[int, str, str]:
    """The command's exit code, its one-line reason and its stdout; it exits non-zero."""
    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command(command, *args, stdout=out, stderr=StringIO())
    return failure.value.returncode, str(failure.value), out.getvalue()


def run_json(command: str, *args: str) -> Any:
    return json.loads(run(command, *args, "--json"))


@pytest.fixture
def hub(hub_settings: Any, db: None) -> tuple[Organization, Organization]:
    """acme (applications wiki and billing) and globex (crm) on the logout service."""
    acme = hub_policy(Organization.objects.create(slug="acme", name="Acme"))
    globex = hub_policy(Organization.objects.create(slug="globex", name="Globex"))
    register_application("wiki", acme, uri="https://wiki.example.com/bcl")
    register_application("billing", acme, uri="https://billing.example.com/bcl")
    register_application("crm", globex, uri="https://crm.example.com/bcl")
    return acme, globex


@pytest.fixture
def kept(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """The tasks queued, kept instead of sent (no broker)."""
    messages: list[tuple[str, tuple[Any, ...]]] = []
    for task in (tasks.deliver_event, tasks.run_organization_logout):
        monkeypatch.setattr(
            task, "delay", lambda *message, name=task.name: messages.append((name, message))
        )
    return messages


def application(name: str) -> Application:
    return Application.objects.get(name=name)


def signed_in(sub: str, organization: Organization, *names: str, **fields: Any) -> None:
    for name in names:
        session = track_session(application(name), organization, sub)
        TrackedSession.objects.filter(pk=session.pk).update(**fields)


# --- logout_sso_logout: arguments -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((), "Name the user (--user) or the organization (--organization)."),
        (("--organization", "nope"), "No organization with slug 'nope'."),
        (("--user", "u1", "--organization", "nope"), "No organization with slug 'nope'."),
        (("--organization", "acme", "--issuer", IDP_ISSUER), "--issuer goes with a subject"),
        (("--user", "jane@acme.example", "--issuer", IDP_ISSUER), "--issuer goes with a subject"),
    ],
    ids=["neither", "unknown-organization", "user-of-unknown-organization", "issuer-alone",
         "issuer-with-email"],
)  # fmt: skip
def test_bad_arguments_exit_2_with_one_line(hub, kept, args, reason):
    code, message, out = fails("logout_sso_logout", *args)

    assert (code, out) == (2, "")
    assert message.startswith(reason)
    assert "\n" not in message
    assert not LogoutEvent.objects.exists()
    assert not OrganizationLogoutJob.objects.exists()


def test_a_user_signed_in_in_several_organizations_needs_one_named(hub, kept):
    acme, globex = hub
    signed_in("u1", acme, "wiki")
    signed_in("u1", globex, "crm")

    code, message, _out = fails("logout_sso_logout", "--user", "u1")

    assert code == 2
    assert message == (
        "u1 is signed in in several organizations (acme, globex): name one with --organization."
    )
    assert TrackedSession.objects.live().count() == 2

    printed = run_json("logout_sso_logout", "--user", "u1", "--organization", "globex")

    assert printed["organization"] == "globex"
    assert list(TrackedSession.objects.live().values_list("organization__slug", flat=True)) == [
        "acme"
    ]


def test_an_email_found_in_several_organizations_needs_one_named(hub, kept):
    acme, globex = hub
    signed_in("u1", acme, "wiki", email="jane@example.com")
    signed_in("u2", globex, "crm", email="Jane@Example.com")

    code, message, _out = fails("logout_sso_logout", "--user", "jane@example.com")

    assert code == 2
    assert "several organizations (acme, globex)" in message


def test_a_subject_at_several_issuers_needs_one_named(hub, kept):
    acme, _globex = hub
    signed_in("u1", acme, "wiki")
    signed_in("u1", acme, "billing", issuer=OTHER_ISSUER)

    code, message, _out = fails("logout_sso_logout", "--user", "u1")

    assert code == 2
    assert message == (
        f"u1 has sessions at several issuers ({IDP_ISSUER}, {OTHER_ISSUER}): "
        "name one with --issuer."
    )

    printed = run_json("logout_sso_logout", "--user", "u1", "--issuer", OTHER_ISSUER)

    assert printed["deliveries"]["total"] == 1
    assert TrackedSession.objects.live().get().issuer == IDP_ISSUER


@pytest.mark.parametrize(
    "args",
    [("--user", "ghost"), ("--user", "ghost@acme.example"), ("--user", "u1", "--organization",
     "globex"), ("--user", "u1", "--issuer", OTHER_ISSUER)],
    ids=["unknown-sub", "unknown-email", "not-in-that-organization", "not-at-that-issuer"],
)  # fmt: skip
def test_a_user_with_no_live_session_is_nothing_to_do(hub, kept, args):
    acme, _globex = hub
    signed_in("u1", acme, "wiki")

    assert run("logout_sso_logout", *args) == f"Nothing to do: {args[1]} has no live session.\n"
    printed = run_json("logout_sso_logout", *args)

    assert printed == {
        "result": "nothing_to_do",
        "user": args[1],
        "organization": "globex" if "globex" in args else None,
        "events": [],
        "job": None,
        "job_admin_url": None,
        "users": None,
        "local_sessions_ended": 0,
        "deliveries": {"total": 0, "delivered": 0, "failed": 0, "pending": 0},
    }
    assert not LogoutEvent.objects.exists()
    assert kept == []


def test_bad_arguments_from_the_command_line_exit_2(capsys):
    command = load_command_class("logout_sso", "logout_sso_logout")
    for argv in (["--timeout", "0", "--user", "u1"], ["--bogus"], []):
        with pytest.raises(SystemExit) as exited:
            command.run_from_argv(["manage.py", "logout_sso_logout", "--skip-checks", *argv])

        assert exited.value.code == 2
    errors = capsys.readouterr().err
    assert "argument --timeout: expected seconds greater than 0, not '0'" in errors
    assert "unrecognized arguments: --bogus" in errors
    assert errors.endswith(
        "CommandError: Name the user (--user) or the organization (--organization).\n"
    )


# --- logout_sso_logout: without --wait --------------------------------------------------------


def test_a_user_is_logged_out_by_subject_and_the_event_printed(
    hub, kept, django_capture_on_commit_callbacks
):
    acme, _globex = hub
    signed_in("u1", acme, "wiki", "billing")
    signed_in("u2", acme, "wiki")

    with django_capture_on_commit_callbacks(execute=True):
        printed = run_json("logout_sso_logout", "--user", "u1")

    event = LogoutEvent.objects.get()
    assert printed == {
        "result": "started",
        "user": "u1",
        "organization": "acme",
        "events": [event.pk],
        "job": None,
        "job_admin_url": None,
        "users": None,
        "local_sessions_ended": 0,
        "deliveries": {"total": 2, "delivered": 0, "failed": 0, "pending": 2},
    }
    assert (event.initiator, event.initiated_by_user, event.sub) == (Initiator.ADMIN, None, "u1")
    assert (event.organization, event.issuer) == (acme, IDP_ISSUER)
    assert kept
    assert {(task, message[0]) for task, message in kept} == {
        ("logout_sso.deliver_event", event.pk)
    }
    assert list(TrackedSession.objects.live().values_list("sub", flat=True)) == ["u2"]


def test_a_user_is_logged_out_by_email_in_plain_text(hub, kept):
    acme, _globex = hub
    signed_in("u1", acme, "wiki", email="jane@acme.example")
    signed_in("u1-bis", acme, "billing", email="JANE@acme.example")
    signed_in("u2", acme, "wiki", email="joe@acme.example")

    output = run("logout_sso_logout", "--user", "jane@acme.example")

    first, second = LogoutEvent.objects.order_by("sub")
    assert output == (
        f"Logged jane@acme.example out in acme: events {first.pk}, {second.pk}; "
        "0 session(s) ended here.\n"
        "Deliveries: 0 delivered, 0 failed, 2 pending.\n"
    )
    assert (first.sub, second.sub) == ("u1", "u1-bis")
    assert list(TrackedSession.objects.live().values_list("sub", flat=True)) == ["u2"]


def test_a_user_signed_in_only_here_is_found_and_logged_out(hub, kept):
    acme, _globex = hub
    browser = Client()
    sign_in_through_idp(browser, acme, issuer=IDP_ISSUER, sub="u9")

    printed = run_json("logout_sso_logout", "--user", "u9")

    assert (printed["organization"], printed["local_sessions_ended"]) == ("acme", 1)
    assert printed["deliveries"]["total"] == 0
    assert not is_signed_in(browser)


def test_an_organization_wide_logout_prints_its_job_and_admin_page(hub, kept):
    acme, _globex = hub
    signed_in("u1", acme, "wiki")
    signed_in("u2", acme, "billing")

    output = run("logout_sso_logout", "--organization", "acme")

    job = OrganizationLogoutJob.objects.get()
    assert output == (
        f"Logging every user of acme out: job {job.pk} (0 of 2 users done).\n"
        f"Progress: /admin/logout_sso/organizationlogoutjob/{job.pk}/change/\n"
        "Deliveries: 0 delivered, 0 failed, 0 pending.\n"
    )
    assert (job.organization, job.state, job.requested_by) == (acme, JobState.QUEUED, None)


def test_an_organization_wide_logout_in_json_without_the_admin(hub, kept, settings):
    settings.ROOT_URLCONF = "logout_sso.urls"  # No admin there.

    printed = run_json("logout_sso_logout", "--organization", "globex")

    job = OrganizationLogoutJob.objects.get()
    assert printed == {
        "result": "started",
        "user": None,
        "organization": "globex",
        "events": [],
        "job": job.pk,
        "job_admin_url": None,
        "users": {"done": 0, "total": 0},
        "local_sessions_ended": 0,
        "deliveries": {"total": 0, "delivered": 0, "failed": 0, "pending": 0},
    }


# --- logout_sso_logout --wait, with a real worker and receivers --------------------------------


@pytest.fixture
def waiting(hub_settings: Any, hub_worker: Any, receivers: Any, transactional_db: None) -> Any:
    """acme on the logout service, and ``app(name, answers)``: an application of acme holding
    a session of u1 and answering at a loopback receiver."""
    acme = hub_policy(Organization.objects.create(slug="acme", name="Acme"))

    def app(name: str, answers: list[Answer | int], *subs: str) -> Any:
        receiver = receivers(answers)
        made, _credential = register_application(name, acme, uri=receiver.url)
        for sub in subs or ("u1",):
            track_session(made, acme, sub)
        return receiver

    return app


def test_wait_until_every_delivery_is_delivered_exits_0(waiting):
    wiki, billing = waiting("wiki", [200]), waiting("billing", [200])
    terminal = Terminal()

    output = run("logout_sso_logout", "--user", "u1", "--wait", stderr=terminal)

    assert output.endswith("Deliveries: 2 delivered, 0 failed, 0 pending.\n")
    assert (len(wiki.received), len(billing.received)) == (1, 1)
    assert "deliveries" in terminal.getvalue()
    assert "2/2" in terminal.getvalue()


def test_wait_with_a_rejected_delivery_exits_1(waiting):
    waiting("wiki", [200])
    waiting("billing", [Answer(status=400, body='{"error": "invalid_request"}')])
    out = StringIO()

    with pytest.raises(CommandError) as failure:
        call_command("logout_sso_logout", "--user", "u1", "--wait", "--json", stdout=out)

    assert failure.value.returncode == 1
    assert str(failure.value) == (
        "1 of 2 deliveries failed (retry them with logout_sso_retry once the application is fixed)."
    )
    printed = json.loads(out.getvalue())
    assert printed["result"] == "failed"
    assert printed["deliveries"] == {"total": 2, "delivered": 1, "failed": 1, "pending": 0}


def test_wait_past_the_timeout_exits_3(waiting):
    receiver = waiting("wiki", [slow(3)])
    out = StringIO()

    with pytest.raises(CommandError) as failure:
        call_command(
            "logout_sso_logout", "--user", "u1", "--wait", "--timeout", "0.5", "--json", stdout=out
        )

    assert failure.value.returncode == 3
    assert str(failure.value) == "Timed out after 0.5 s: 1 of 1 deliveries still pending."
    assert json.loads(out.getvalue())["result"] == "timed_out"
    receiver.wait_for_requests(1)
    wait_for(
        lambda: not Delivery.objects.filter(state=DeliveryState.PENDING).exists(),
        30,
        "the slow delivery did not settle",
    )


def test_wait_for_an_organization_wide_logout_shows_users_and_deliveries(waiting):
    waiting("wiki", [200], "u1", "u2", "u3")
    waiting("billing", [200], "u1")
    terminal = Terminal()
    out = StringIO()

    call_command(
        "logout_sso_logout", "--organization", "acme", "--wait", "--json",
        stdout=out, stderr=terminal,
    )  # fmt: skip

    printed = json.loads(out.getvalue())
    assert printed["result"] == "delivered"
    assert printed["users"] == {"done": 3, "total": 3}
    assert printed["deliveries"] == {"total": 4, "delivered": 4, "failed": 0, "pending": 0}
    assert "users" in terminal.getvalue()
    assert "3/3" in terminal.getvalue()
    assert OrganizationLogoutJob.objects.get().state == JobState.DONE


def test_failed_deliveries_retried_once_the_application_is_fixed(waiting):
    receiver = waiting("wiki", [400, 200])
    fails("logout_sso_logout", "--user", "u1", "--wait")

    assert run_json("logout_sso_retry", "--application", "wiki-client")["queued"] == 1

    receiver.wait_for_requests(2)
    wait_for(
        lambda: Delivery.objects.filter(state=DeliveryState.DELIVERED).exists(),
        30,
        "the retried delivery was not delivered",
    )


# --- logout_sso_retry --------------------------------------------------------------------------


@pytest.fixture
def failures(hub: tuple[Organization, Organization]) -> dict[str, LogoutEvent]:
    """Logouts with failed deliveries: acme's u1 (wiki and billing failed), acme's u2 (billing
    failed, wiki delivered), globex's u3 (crm failed)."""
    acme, globex = hub
    events = {}
    for sub, organization, states in (
        ("u1", acme, {"wiki": "failed", "billing": "failed"}),
        ("u2", acme, {"wiki": "delivered", "billing": "failed"}),
        ("u3", globex, {"crm": "failed"}),
    ):
        event = LogoutEvent.objects.create(
            initiator=Initiator.ADMIN, issuer=IDP_ISSUER, sub=sub, organization=organization
        )
        for name, state in states.items():
            Delivery.objects.create(event=event, application=application(name), state=state)
        events[sub] = event
    return events


def failed_now() -> set[tuple[str, str]]:
    return set(
        Delivery.objects.filter(state=DeliveryState.FAILED).values_list(
            "event__sub", "application__name"
        )
    )


@pytest.mark.parametrize(
    ("args", "queued", "left"),
    [
        ((), 4, set()),
        (("--organization", "acme"), 3, {("u3", "crm")}),
        (("--organization", "globex"), 1, {("u1", "wiki"), ("u1", "billing"), ("u2", "billing")}),
        # Only wiki's failure: billing's failure of the same logout stays failed.
        (
            ("--application", "wiki-client"),
            1,
            {("u1", "billing"), ("u2", "billing"), ("u3", "crm")},
        ),
        (("--organization", "globex", "--application", "wiki-client"), 0, None),
    ],
)
def test_retry_queues_the_failed_deliveries_in_scope(
    failures, kept, django_capture_on_commit_callbacks, args, queued, left
):
    before = failed_now()

    with django_capture_on_commit_callbacks(execute=True):
        printed = run_json("logout_sso_retry", *args)

    assert printed == {
        "queued": queued,
        "organization": dict(zip(args[::2], args[1::2], strict=True)).get("--organization"),
        "application": dict(zip(args[::2], args[1::2], strict=True)).get("--application"),
    }
    assert failed_now() == (before if left is None else left)
    retried = Delivery.objects.filter(state=DeliveryState.PENDING).values_list("event", flat=True)
    assert sorted(message[0] for _task, message in kept) == sorted(set(retried))


def test_retry_says_how_many_or_that_there_was_nothing(failures, kept):
    assert run("logout_sso_retry", "--organization", "globex") == (
        "1 failed delivery queued again.\n"
    )
    assert run("logout_sso_retry", "--organization", "globex") == (
        "Nothing to do: no failed delivery.\n"
    )
    assert run("logout_sso_retry") == "3 failed deliveries queued again.\n"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--organization", "nope"), "No organization with slug 'nope'."),
        (("--application", "nope"), "No application with client id 'nope'."),
    ],
)
def test_retry_with_unknown_names_exits_2(failures, kept, args, reason):
    before = failed_now()

    assert fails("logout_sso_retry", *args) == (2, reason, "")
    assert failed_now() == before
    assert kept == []


# --- logout_sso_status -------------------------------------------------------------------------


def delivery(app: str, organization: Organization, state: str, age: timedelta, **fields: Any):
    event = LogoutEvent.objects.create(
        initiator=Initiator.API, issuer=IDP_ISSUER, sub="u", organization=organization
    )
    made = Delivery.objects.create(event=event, application=application(app), state=state, **fields)
    Delivery.objects.filter(pk=made.pk).update(created_at=timezone.now() - age)
    return made


@pytest.fixture
def busy(hub: tuple[Organization, Organization]) -> tuple[Organization, Organization]:
    """wiki: one delivered an hour ago, two pending (10 and 100 s old), a failure today and one
    two days ago; crm (globex): one pending (1,000 s old); billing: nothing."""
    acme, globex = hub
    an_hour_ago = timezone.now() - timedelta(hours=1)
    delivery("wiki", acme, "delivered", timedelta(hours=1), delivered_at=an_hour_ago)
    delivery("wiki", acme, "pending", timedelta(seconds=10))
    delivery("wiki", acme, "pending", timedelta(seconds=100))
    delivery("wiki", acme, "failed", timedelta(hours=2))
    delivery("wiki", acme, "failed", timedelta(days=2))
    delivery("crm", globex, "pending", timedelta(seconds=1000))
    return acme, globex


def test_status_on_a_quiet_hub(hub):
    printed = run_json("logout_sso_status")

    assert printed["organization"] is None
    assert printed["deliveries"] == {"pending": 0, "failed": 0, "oldest_pending_age_seconds": None}
    assert [a["client_id"] for a in printed["applications"]] == [
        "billing-client", "crm-client", "wiki-client",
    ]  # fmt: skip
    assert printed["applications"][0] == {
        "name": "billing",
        "client_id": "billing-client",
        "enabled": True,
        "pending": 0,
        "failed": 0,
        "failed_last_24h": 0,
        "last_delivered_at": None,
    }
    assert printed["organization_logouts"] == []
    assert printed["mirror"] is None


def test_status_counts_deliveries_per_application(busy):
    acme, _globex = busy
    job = OrganizationLogoutJob.objects.create(organization=acme, users_total=10, users_done=4)
    OrganizationLogoutJob.objects.create(organization=acme, state=JobState.DONE)

    printed = run_json("logout_sso_status")

    deliveries = printed["deliveries"]
    assert (deliveries["pending"], deliveries["failed"]) == (3, 2)
    assert 1000 <= deliveries["oldest_pending_age_seconds"] < 1010
    wiki = next(a for a in printed["applications"] if a["name"] == "wiki")
    assert (wiki["pending"], wiki["failed"], wiki["failed_last_24h"]) == (2, 2, 1)
    delivered_at = Delivery.objects.get(state="delivered").delivered_at
    assert delivered_at is not None
    assert wiki["last_delivered_at"] == delivered_at.isoformat()
    assert printed["organization_logouts"] == [
        {
            "id": job.pk,
            "organization": "acme",
            "state": "queued",
            "users_done": 4,
            "users_total": 10,
            "created_at": job.created_at.isoformat(),
        }
    ]


def test_status_of_one_organization(busy):
    printed = run_json("logout_sso_status", "--organization", "acme")

    assert printed["organization"] == "acme"
    assert (printed["deliveries"]["pending"], printed["deliveries"]["failed"]) == (2, 2)
    assert 100 <= printed["deliveries"]["oldest_pending_age_seconds"] < 110
    assert [a["name"] for a in printed["applications"]] == ["billing", "wiki"]


def test_status_as_a_table(busy):
    acme, _globex = busy
    Application.objects.filter(name="billing").update(enabled=False)
    job = OrganizationLogoutJob.objects.create(organization=acme, users_total=10, users_done=4)

    lines = run("logout_sso_status").splitlines()

    assert lines[0].startswith("Deliveries: 3 pending (oldest 10")
    assert lines[0].endswith(" s), 2 failed.")
    assert lines[2].split() == [
        "Application", "Client", "id", "Last", "delivered", "Failed", "(24", "h)", "Failed",
        "Pending",
    ]  # fmt: skip
    assert lines[3].split()[:4] == ["billing", "(disabled)", "billing-client", "-"]
    assert lines[5].split()[:2] == ["wiki", "wiki-client"]
    assert lines[5].split()[-3:] == ["1", "2", "2"]
    assert lines[7] == "Organization-wide logouts under way:"
    assert lines[9].split()[:4] == [str(job.pk), "acme", "queued", "4/10"]


def test_status_in_client_mode_shows_the_mirror(db, settings):
    settings.LOGOUT_SSO = {"HUB_URL": "https://hub.example.com/sso/api/", "HUB_API_CREDENTIAL": "x"}
    assert run_json("logout_sso_status")["mirror"] == {
        "hub_url": "https://hub.example.com/sso/api/",
        "synced_at": None,
        "age_seconds": None,
        "attempted_at": None,
        "stale": True,  # Never confirmed.
        "last_error": "",
    }
    confirmed = timezone.now() - timedelta(seconds=90)
    PolicyMirror.objects.create(
        hub_url="https://hub.example.com/sso/api/",
        synced_at=confirmed,
        attempted_at=timezone.now(),
        last_error="HTTP 503",
    )

    mirror = run_json("logout_sso_status")["mirror"]
    text = run("logout_sso_status")

    assert 90 <= mirror["age_seconds"] < 100
    assert mirror["stale"] is False  # Within 5 x POLICY_SYNC_INTERVAL (60 s).
    assert (mirror["synced_at"], mirror["last_error"]) == (confirmed.isoformat(), "HTTP 503")
    assert "Policies from the hub (https://hub.example.com/sso/api/): confirmed 9" in text
    assert "s ago; last error: HTTP 503." in text


def test_status_of_an_unknown_organization_exits_2(hub):
    assert fails("logout_sso_status", "--organization", "nope") == (
        2, "No organization with slug 'nope'.", "",
    )  # fmt: skip


def test_status_takes_the_same_queries_whatever_the_deliveries(
    busy, django_assert_num_queries, django_assert_max_num_queries
):
    acme, globex = busy
    OrganizationLogoutJob.objects.create(organization=acme)
    for args in ((), ("--organization", "acme")):
        with django_assert_max_num_queries(5) as few:
            run_json("logout_sso_status", *args)
        for _ in range(20):
            delivery("billing", acme, "pending", timedelta(seconds=5))
            delivery("crm", globex, "failed", timedelta(seconds=5))
        with django_assert_num_queries(len(few.captured_queries)):
            run_json("logout_sso_status", *args)
