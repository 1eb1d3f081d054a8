"""``logout_sso.client.HubClient`` over real HTTP against the hub, and client mode."""

from __future__ import annotations

import pickle

import pytest
from django.db import transaction

from logout_sso.client import HubClient, HubError
from logout_sso.models import LogoutEvent, TrackedSession
from logout_sso.models.events import Initiator
from logout_sso.models.organizations import SLOMode
from logout_sso.rp.internal import hub_membership
from logout_sso.signals import logout_recorded, signed_in
from tests.loopback import LoopbackServer, Reply, json_reply
from tests.services import free_port

IDP = "https://idp.example.com/"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hub(live_server, settings, make_organization, monkeypatch):
    """The test project as the hub, with an application serving acme."""
    from logout_sso.models import Application

    settings.OIDC_OP_ISSUER = IDP
    monkeypatch.setattr("logout_sso.tasks.deliver_event.delay", lambda *message: None)
    acme = make_organization("acme", idp_organization_id="org_acme")
    application, credential = Application.objects.create_with_credential(
        name="wiki", client_id="wiki", backchannel_logout_uri="https://wiki.example.com/bcl"
    )
    application.organizations.set([acme])
    return HubClient(f"{live_server.url}/sso/api/", credential)


def test_register_is_idempotent_and_remove_ends_the_session(hub):
    first = hub.register_session(sub="alice", session_id="s1", organization="acme", sid="x")
    again = hub.register_session(sub="alice", session_id="s1", organization="org_acme")

    assert first == again
    assert first["organization"] == "acme"
    assert hub.remove_session("s1") is True
    assert hub.remove_session("unknown") is False
    assert TrackedSession.objects.get().end_reason == "removed"


def test_report_logout_and_read_the_event(hub):
    hub.register_session(sub="alice", session_id="s1", organization="acme")

    reported = hub.report_logout(sub="alice", organization="acme")
    event = hub.logout_event(reported["event"])

    assert reported["deliveries"] == 1
    assert event["sub"] == "alice"
    assert [delivery["application"] for delivery in event["deliveries"]] == ["wiki"]


def test_errors_carry_the_hubs_status_and_description(hub):
    with pytest.raises(HubError) as caught:
        hub.register_session(sub="alice", session_id="s1", organization="globex")

    assert (caught.value.status, caught.value.transient) == (403, False)
    assert caught.value.description == "This application serves no organization named 'globex'."


def test_a_bad_credential_is_refused(hub, live_server):
    stranger = HubClient(f"{live_server.url}/sso/api/", "lsso_0_wrong")

    with pytest.raises(HubError) as caught:
        stranger.report_logout(sub="alice")

    assert caught.value.status == 401


def test_organizations_with_their_version_then_not_modified(hub):
    etag, organizations = hub.organizations() or ("", [])

    assert etag.startswith('"')
    assert [organization["slug"] for organization in organizations] == ["acme"]
    assert hub.organizations(etag) is None
    assert hub.organizations('"older"') == (etag, organizations)


@pytest.mark.parametrize(
    ("reply", "description"),
    [
        (Reply(200, (("Content-Type", "text/html"),), b"<html>"), "not a JSON object"),
        (json_reply([1, 2]), "not a JSON object"),
        (json_reply({"organizations": {"acme": 1}}), "not a list of objects"),
        (json_reply({"organizations": [1]}), "not a list of objects"),
        (json_reply({}), "not a list of objects"),
        (Reply(204), "not a JSON object"),
    ],
    ids=["html", "a-list", "a-dict", "not-objects", "no-organizations", "no-content"],
)
def test_an_answer_that_is_no_list_of_organizations_is_an_error(reply, description):
    server = LoopbackServer(lambda request: reply)
    try:
        with pytest.raises(HubError) as caught:
            HubClient(f"{server.url}/sso/api/", "x").organizations()
    finally:
        server.close()

    assert caught.value.error == "invalid_response"
    assert description in caught.value.description


@pytest.mark.parametrize(
    "error",
    [
        HubError(403, "forbidden", "This application serves no organization named 'globex'."),
        HubError(None, "unreachable", "Connection refused"),
        HubError(400, "bad\nline", "x" * 290 + "\n" * 20),  # escaped, then cut: kept as is
    ],
    ids=["refused", "unreachable", "escaped-and-cut"],
)
def test_a_hub_error_survives_pickling(error):
    """Celery pickles a task's exception (to store it, or to send it to the caller)."""
    restored = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes

    assert type(restored) is HubError
    assert (restored.status, restored.error, restored.description) == (
        error.status,
        error.error,
        error.description,
    )
    assert str(restored) == str(error)
    assert restored.transient == error.transient


def test_an_unreachable_hub_is_a_transient_error():
    client = HubClient(f"http://127.0.0.1:{free_port()}/sso/api/", "x", timeout=(0.5, 0.5))

    with pytest.raises(HubError) as caught:
        client.remove_session("s1")

    assert caught.value.status is None
    assert caught.value.transient is True


# --- client mode: what the relying party queues ------------------------------------------


@pytest.fixture
def client_mode(settings, monkeypatch, make_organization):
    settings.LOGOUT_SSO = {"HUB_URL": "https://hub.example.com/sso/api/", "HUB_API_CREDENTIAL": "c"}
    queued: list[tuple[str, object]] = []
    for task in ("register_session_at_hub", "remove_session_at_hub", "report_logout_to_hub"):
        monkeypatch.setattr(
            f"logout_sso.tasks.{task}.delay",
            lambda payload, task=task: queued.append((task, payload)),
        )
    # Mirrored from the hub, which serves it to this application (tests/rp/test_hub_registration
    # for one it does not serve).
    return make_organization("acme", idp_organization_id="org_acme", hub_id=7), queued


def test_a_sign_in_is_registered_at_the_hub_after_commit(client_mode):
    acme, queued = client_mode

    with transaction.atomic():
        signed_in.send(
            sender=object, request=None, session_key="key-1", issuer=IDP, sub="alice",
            sid="x", organization_id=acme.pk,
        )  # fmt: skip
        assert queued == []

    [(task, payload)] = queued
    assert task == "register_session_at_hub"
    assert payload == {
        "session_id": hub_membership.hub_session_id("key-1"),
        "organization": "org_acme",
        "issuer": IDP,
        "sub": "alice",
        "sid": "x",
    }
    assert "key-1" not in str(payload)


@pytest.mark.parametrize(
    ("slo_mode", "expected_task"),
    [
        (SLOMode.LOGOUT_SERVICE, "report_logout_to_hub"),
        (SLOMode.SHORT_LIVED_TOKENS, "remove_session_at_hub"),
        (SLOMode.NONE, "remove_session_at_hub"),
    ],
)
def test_a_logout_is_reported_or_removed_per_policy(client_mode, slo_mode, expected_task):
    acme, queued = client_mode
    acme.logout_policy.slo_mode = slo_mode
    acme.logout_policy.save()
    event = LogoutEvent.objects.create(
        initiator=Initiator.USER, organization=acme, issuer=IDP, sub="alice", sid="x"
    )

    logout_recorded.send(sender=LogoutEvent, event=event, session_key="key-1")

    assert [task for task, _payload in queued] == [expected_task]


def test_without_hub_settings_nothing_is_queued(settings, monkeypatch, make_organization):
    calls: list[object] = []
    monkeypatch.setattr("logout_sso.tasks.register_session_at_hub.delay", calls.append)
    acme = make_organization("acme")

    signed_in.send(
        sender=object, request=None, session_key="k", issuer=IDP, sub="a", sid="",
        organization_id=acme.pk,
    )  # fmt: skip

    assert calls == []
