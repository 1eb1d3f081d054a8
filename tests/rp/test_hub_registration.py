"""Client mode registers at the hub only sign-ins of organizations the hub serves to this
application (those mirrored from it), whatever their SLO mode; a hub that refuses is one
warning, never a traceback per sign-in."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from logout_sso import tasks
from logout_sso.models import Application, LogoutEvent, Organization
from logout_sso.models.events import Initiator
from logout_sso.models.organizations import SLOMode
from logout_sso.rp.internal import hub_membership
from logout_sso.signals import logout_recorded, signed_in
from tests.services import database_name, running_worker, wait_for

IDP = "https://idp.example.com/"
TASKS = ("register_session_at_hub", "remove_session_at_hub", "report_logout_to_hub")


@pytest.fixture
def queued(settings: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Client mode; what it queues for the hub once the transaction commits, instead of
    queueing it."""
    settings.LOGOUT_SSO = {"HUB_URL": "https://hub.example.com/sso/api/", "HUB_API_CREDENTIAL": "c"}
    calls: list[tuple[str, Any]] = []
    for task in TASKS:
        monkeypatch.setattr(
            f"logout_sso.tasks.{task}.delay",
            lambda payload, task=task: calls.append((task, payload)),
        )
    return calls


@pytest.fixture
def sign_in(django_capture_on_commit_callbacks: Any) -> Callable[..., None]:
    """A sign-in of ``organization``, committed (what is queued on commit is queued)."""

    def sign_in(organization: Organization, session_key: str = "key-1") -> None:
        with django_capture_on_commit_callbacks(execute=True):
            signed_in.send(
                sender=object, request=None, session_key=session_key, issuer=IDP, sub="alice",
                sid="x", organization_id=organization.pk,
            )  # fmt: skip

    return sign_in


def unserved_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and "not registered at the hub" in record.getMessage()
    ]


@pytest.mark.django_db
def test_a_sign_in_the_hub_does_not_serve_sends_nothing_and_warns_once_per_organization(
    queued, sign_in, make_organization, caplog
):
    acme, initech = make_organization("acme"), make_organization("initech")

    with caplog.at_level(logging.WARNING):
        for number in range(3):
            sign_in(acme, f"acme-{number}")
        sign_in(initech)

    assert queued == []
    warnings = unserved_warnings(caplog)
    assert len(warnings) == 2
    assert "organization 'acme'" in warnings[0]
    assert "organization 'initech'" in warnings[1]
    assert "POLICY_SYNC_INTERVAL" in warnings[0]


@pytest.mark.django_db
def test_the_warning_is_said_again_once_its_hour_in_the_shared_cache_is_over(
    queued, sign_in, make_organization, caplog
):
    acme = make_organization("acme")
    sign_in(acme)
    key = hub_membership.UNSERVED_WARNING_KEY.format(organization_id=acme.pk)
    assert cache.get(key) is True
    assert hub_membership.UNSERVED_WARNING_SECONDS == 60 * 60

    cache.delete(key)  # the hour is over
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        sign_in(acme)

    assert len(unserved_warnings(caplog)) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("slo_mode", [mode.value for mode in SLOMode])
def test_a_mirrored_organization_is_registered_whatever_its_slo_mode(
    queued, sign_in, make_organization, slo_mode, caplog
):
    """An admin's logout at the hub must reach every application: even with the SLO mode
    none, the hub must know where the user's sessions are."""
    acme = make_organization("acme", hub_id=7)
    acme.logout_policy.slo_mode = slo_mode
    acme.logout_policy.save()

    with caplog.at_level(logging.WARNING):
        sign_in(acme)

    assert [task for task, _payload in queued] == ["register_session_at_hub"]
    assert unserved_warnings(caplog) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("hub_id", "slo_mode", "expected"),
    [
        (None, SLOMode.LOGOUT_SERVICE, []),
        (None, SLOMode.SHORT_LIVED_TOKENS, []),
        (7, SLOMode.LOGOUT_SERVICE, ["report_logout_to_hub"]),
        (7, SLOMode.SHORT_LIVED_TOKENS, ["remove_session_at_hub"]),
    ],
    ids=["unserved-logout-service", "unserved-short-lived", "served", "served-short-lived"],
)
def test_a_logout_is_sent_only_for_an_organization_the_hub_serves(
    queued, make_organization, django_capture_on_commit_callbacks, hub_id, slo_mode, expected
):
    acme = make_organization("acme", hub_id=hub_id)
    acme.logout_policy.slo_mode = slo_mode
    acme.logout_policy.save()
    event = LogoutEvent.objects.create(
        initiator=Initiator.USER, organization=acme, issuer=IDP, sub="alice", sid="x"
    )

    with django_capture_on_commit_callbacks(execute=True):
        logout_recorded.send(sender=LogoutEvent, event=event, session_key="key-1")

    assert [task for task, _payload in queued] == expected


# --- A hub that refuses: one warning with its reason, the task ends --------------------------


@pytest.fixture
def refusing_hub(live_server: Any, make_organization: Any) -> tuple[str, str]:
    """This project as a hub whose application ``billing`` serves no organization, and acme as
    billing mirrored it (its id at the hub is gone): the hub's URL and billing's credential."""
    make_organization("acme", hub_id=4242)
    _billing, credential = Application.objects.create_with_credential(
        name="billing", client_id="billing", backchannel_logout_uri="https://billing.example/bcl"
    )
    return f"{live_server.url}/sso/api/", credential


@pytest.fixture
def client_worker(
    refusing_hub: tuple[str, str],
    django_db_blocker: Any,
    redis_url: str,
    tmp_path: Path,
) -> Iterator[Path]:
    """A real Celery worker in client mode of that hub; yields its log's path."""
    hub_url, credential = refusing_hub
    overrides = {"LOGOUT_SSO": {"HUB_URL": hub_url, "HUB_API_CREDENTIAL": credential}}
    with running_worker(redis_url, database_name(django_db_blocker), tmp_path, overrides):
        yield tmp_path / "worker.log"


@pytest.mark.django_db(transaction=True)
def test_a_refused_registration_is_one_warning_with_the_reason_and_no_traceback(client_worker):
    registration = {
        "session_id": hub_membership.hub_session_id("key-1"),
        "organization": "acme",
        "issuer": IDP,
        "sub": "alice",
        "sid": "x",
    }

    result = tasks.register_session_at_hub.delay(registration)

    def finished() -> str:
        log = client_worker.read_text()
        return log if f"[{result.id}] succeeded" in log else ""

    log = wait_for(finished, 30, "the worker did not finish the registration")
    warnings = [line for line in log.splitlines() if "WARNING" in line and "refused" in line]
    assert len(warnings) == 1
    assert (
        "The hub refused logout_sso.register_session_at_hub (not retried): 403 forbidden: This "
        "application serves no organization named 'acme'." in warnings[0]
    )
    assert "Traceback" not in log
    assert "ERROR" not in log
    assert "Retry in" not in log
