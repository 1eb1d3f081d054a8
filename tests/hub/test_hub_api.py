"""The hub's session API (``/sso/api/``), as applications use it with their credential."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from logout_sso.models import Application, Delivery, LogoutEvent, Organization, TrackedSession
from tests.hub_receivers import IDP_ISSUER, register_application, track_session
from tests.signing_in import is_signed_in, sign_in_through_idp

pytestmark = pytest.mark.usefixtures("hub_settings")


def call(
    client: Client,
    method: str,
    path: str,
    credential: str | None,
    body: Any = None,
    *,
    content_type: str = "application/json",
    raw: bytes | str | None = None,
) -> Any:
    """One API request, as an application sends it."""
    headers = {} if credential is None else {"Authorization": f"Bearer {credential}"}
    data = raw if raw is not None else ("" if body is None else json.dumps(body))
    return client.generic(method, path, data, content_type=content_type, headers=headers)


def register(client: Client, credential: str | None, **fields: Any) -> Any:
    body = {"sub": "user-1", "session_id": "s-1", "organization": "acme", **fields}
    return call(client, "POST", "/sso/api/sessions/", credential, body)


def report(client: Client, credential: str | None, **fields: Any) -> Any:
    return call(client, "POST", "/sso/api/logouts/", credential, fields)


def assert_error(response: Any, status: int, *, mentions: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"]
    assert mentions in body["error_description"]
    return body


# --- Registering sessions --------------------------------------------------------------------


def test_registering_a_session_answers_201_with_the_session(client, tenants):
    expires_at = (timezone.now() + timedelta(hours=8)).replace(microsecond=0)

    response = register(
        client, tenants.wiki_credential, sid="sid-1", expires_at=expires_at.isoformat()
    )

    assert response.status_code == 201
    assert response.json() == {
        "session_id": "s-1",
        "sub": "user-1",
        "sid": "sid-1",
        "issuer": IDP_ISSUER,
        "organization": "acme",
        "created_at": response.json()["created_at"],
        "expires_at": expires_at.isoformat(),
        "ended_at": None,
    }
    session = TrackedSession.objects.get()
    assert (session.application, session.organization) == (tenants.wiki, tenants.acme)


def test_registering_the_same_session_again_answers_200_and_keeps_one(client, tenants):
    first = register(client, tenants.wiki_credential)
    again = register(client, tenants.wiki_credential)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert TrackedSession.objects.count() == 1


def test_two_applications_may_register_the_same_session_id(client, tenants):
    wiki = register(client, tenants.wiki_credential)
    billing = register(client, tenants.billing_credential)

    assert (wiki.status_code, billing.status_code) == (201, 201)
    assert TrackedSession.objects.count() == 2


def test_organization_may_be_named_by_its_idp_organization_id(client, tenants):
    response = register(client, tenants.wiki_credential, organization="org_acme")

    assert response.status_code == 201
    assert response.json()["organization"] == "acme"


def test_another_tenants_organization_and_an_unknown_one_answer_alike(client, tenants):
    """Nothing tells an application whether another tenant's organization exists."""
    foreign = assert_error(register(client, tenants.wiki_credential, organization="globex"), 403)
    unknown = assert_error(register(client, tenants.wiki_credential, organization="initech"), 403)

    assert foreign == {
        "error": "forbidden",
        "error_description": "This application serves no organization named 'globex'.",
    }
    assert unknown["error_description"] == foreign["error_description"].replace("globex", "initech")
    assert not TrackedSession.objects.exists()


def test_an_identifier_two_organizations_share_is_nobodys(client, tenants):
    """Reproduced: with Acme's slug set to Globex's IdP id, an application serving both stored
    a Globex user's session under Acme. Rows written around the validation: no one is chosen."""
    Organization.objects.filter(pk=tenants.globex.pk).update(idp_organization_id="org_globex")
    Organization.objects.filter(pk=tenants.acme.pk).update(slug="org_globex")
    tenants.wiki.organizations.add(tenants.globex)

    response = register(client, tenants.wiki_credential, organization="org_globex")

    assert_error(response, 403)
    assert not TrackedSession.objects.exists()


def test_a_session_registered_without_expiry_expires_after_the_maximum_age(
    client, tenants, settings
):
    settings.LOGOUT_SSO = {**settings.LOGOUT_SSO, "TRACKED_SESSION_MAX_AGE": 3600}
    before = timezone.now()

    response = register(client, tenants.wiki_credential)

    expires_at = TrackedSession.objects.get().expires_at
    assert expires_at is not None
    assert before + timedelta(hours=1) <= expires_at <= timezone.now() + timedelta(hours=1)
    assert response.json()["expires_at"] == expires_at.isoformat()


def test_an_expiry_beyond_the_maximum_age_is_brought_back_to_it(client, tenants):
    response = register(client, tenants.wiki_credential, expires_at="9999-12-30T00:00:00Z")

    assert response.status_code == 201
    expires_at = TrackedSession.objects.get().expires_at
    assert expires_at is not None
    assert expires_at <= timezone.now() + timedelta(days=14)


# --- Authentication --------------------------------------------------------------------------


def assert_unauthorized(response: Any) -> None:
    assert_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_no_credential_is_401(client, tenants):
    response = register(client, None)

    assert_unauthorized(response)
    assert "Authorization: Bearer" in response.json()["error_description"]


def test_another_scheme_is_401(client, tenants):
    response = client.post(
        "/sso/api/sessions/",
        json.dumps({"sub": "user-1", "session_id": "s-1", "organization": "acme"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {tenants.wiki_credential}",
    )

    assert_unauthorized(response)


@pytest.mark.parametrize(
    "credential",
    ["nonsense", "lsso_0123456789abcdef01_secret", "", "lsso_\x00_0", "lsso_ABC_0"],
    ids=["garbage", "unknown-id", "empty", "nul-in-id", "id-not-lower-hex"],
)
def test_wrong_credential_is_401(client, tenants, credential):
    assert_unauthorized(register(client, credential))


def test_credential_with_a_wrong_secret_is_401(client, tenants):
    prefix_and_id = "_".join(tenants.wiki_credential.split("_", 2)[:2])

    assert_unauthorized(register(client, f"{prefix_and_id}_not-the-secret"))


def test_rotated_credential_is_401_and_the_new_one_works(client, tenants):
    old = tenants.wiki_credential
    new = tenants.wiki.rotate_credential()

    assert_unauthorized(register(client, old))
    assert register(client, new).status_code == 201


def test_disabled_application_is_401(client, tenants):
    Application.objects.filter(pk=tenants.wiki.pk).update(enabled=False)

    assert_unauthorized(register(client, tenants.wiki_credential))
    assert_unauthorized(report(client, tenants.wiki_credential, sub="user-1"))


# --- Bad bodies ------------------------------------------------------------------------------


def test_body_that_is_not_json_is_415(client, tenants):
    response = call(
        client,
        "POST",
        "/sso/api/sessions/",
        tenants.wiki_credential,
        raw="sub=user-1&session_id=s-1&organization=acme",
        content_type="application/x-www-form-urlencoded",
    )

    assert_error(response, 415, mentions="application/json")


def test_body_over_16_kib_is_413(client, tenants):
    body = {"sub": "user-1", "session_id": "s-1", "organization": "acme", "x": "a" * 16 * 1024}

    response = call(client, "POST", "/sso/api/sessions/", tenants.wiki_credential, body)

    assert_error(response, 413, mentions="16384 bytes")
    assert not TrackedSession.objects.exists()


def test_malformed_json_is_400(client, tenants):
    response = call(
        client, "POST", "/sso/api/sessions/", tenants.wiki_credential, raw='{"sub": "user-1",'
    )

    assert_error(response, 400, mentions="not valid JSON")


def test_json_that_is_not_an_object_is_400(client, tenants):
    response = call(client, "POST", "/sso/api/sessions/", tenants.wiki_credential, ["user-1"])

    assert_error(response, 400, mentions="JSON object")


@pytest.mark.parametrize(
    ("fields", "mentions"),
    [
        ({"sub": None}, "sub is required"),
        ({"sub": ""}, "sub is required"),
        ({"session_id": None}, "session_id is required"),
        ({"organization": None}, "organization is required"),
        ({"sub": 42}, "sub must be a string"),
        ({"sid": "x" * 256}, "sid must be a string of at most 255 characters"),
        ({"expires_at": "tomorrow"}, "expires_at must be an ISO 8601 time with zone"),
        ({"expires_at": "2030-01-01T00:00:00"}, "expires_at must be an ISO 8601 time with zone"),
        ({"expires_at": "2030-02-30T00:00:00Z"}, "expires_at must be an ISO 8601 time with zone"),
        ({"expires_at": 1893456000}, "expires_at must be a string"),
        ({"expires_at": "9999-12-31T23:59:59-23:59"}, "expires_at must be an ISO 8601 time"),
        ({"expires_at": "0001-01-01T00:00:00+23:59"}, "expires_at must be an ISO 8601 time"),
        ({"sub": "user\x00-1"}, "sub must be printable text"),
        ({"sid": "\ud800"}, "sid must be printable text"),
        ({"email": "a@acme.example\n"}, "email must be printable text"),
        ({"email": "not-an-address"}, "email must be an email address"),
        ({"email": f"{'a' * 242}@acme.example"}, "email must be a string of at most 254"),
        ({"session_id": "a/b"}, "session_id must not contain /"),
        ({"session_id": ".."}, "session_id must not contain /"),
        ({"organization": "acme\x00"}, "organization must be printable text"),
        ({"issuer": "x" * 501}, "issuer must be a string of at most 500 characters"),
    ],
    ids=[
        "missing-sub",
        "empty-sub",
        "missing-session-id",
        "missing-organization",
        "sub-not-string",
        "sid-too-long",
        "expires-at-not-a-time",
        "expires-at-without-zone",
        "expires-at-impossible-date",
        "expires-at-number",
        "expires-at-past-year-9999",
        "expires-at-before-year-1",
        "sub-with-nul",
        "sid-lone-surrogate",
        "email-with-newline",
        "email-not-an-address",
        "email-longer-than-its-column",
        "session-id-with-slash",
        "session-id-dot-dot",
        "organization-with-nul",
        "issuer-too-long",
    ],
)
def test_bad_registration_field_is_400_naming_it(client, tenants, fields, mentions):
    body = {"sub": "user-1", "session_id": "s-1", "organization": "acme", **fields}
    body = {name: value for name, value in body.items() if value is not None}

    response = call(client, "POST", "/sso/api/sessions/", tenants.wiki_credential, body)

    assert_error(response, 400, mentions=mentions)
    assert not TrackedSession.objects.exists()


# --- Removing sessions -----------------------------------------------------------------------


def test_removing_own_session_is_204_and_ends_it(client, tenants):
    register(client, tenants.wiki_credential)

    response = call(client, "DELETE", "/sso/api/sessions/s-1/", tenants.wiki_credential)

    assert response.status_code == 204
    session = TrackedSession.objects.get()
    assert session.ended_at is not None
    assert session.end_reason == "removed"


def test_removing_an_ended_session_again_is_204(client, tenants):
    register(client, tenants.wiki_credential)
    call(client, "DELETE", "/sso/api/sessions/s-1/", tenants.wiki_credential)

    response = call(client, "DELETE", "/sso/api/sessions/s-1/", tenants.wiki_credential)

    assert response.status_code == 204


def test_removing_an_unknown_session_is_404(client, tenants):
    response = call(client, "DELETE", "/sso/api/sessions/nope/", tenants.wiki_credential)

    assert_error(response, 404, mentions="nope")


def test_removing_another_applications_session_is_404_and_leaves_it_live(client, tenants):
    register(client, tenants.billing_credential, session_id="billing-s")

    response = call(client, "DELETE", "/sso/api/sessions/billing-s/", tenants.wiki_credential)

    assert_error(response, 404)
    assert TrackedSession.objects.get().ended_at is None


def test_removing_needs_a_credential(client, tenants):
    register(client, tenants.wiki_credential)

    assert_unauthorized(call(client, "DELETE", "/sso/api/sessions/s-1/", None))
    assert TrackedSession.objects.get().ended_at is None


# --- Reporting logouts -----------------------------------------------------------------------


def test_logout_of_a_user_counts_the_applications_to_reach(client, tenants, queued):
    now = timezone.now()
    wiki_session = track_session(tenants.wiki, tenants.acme, "user-1")
    billing_session = track_session(tenants.billing, tenants.acme, "user-1")
    disabled, _ = register_application("old-crm", tenants.acme, uri="https://old.example/bcl")
    Application.objects.filter(pk=disabled.pk).update(enabled=False)
    track_session(disabled, tenants.acme, "user-1")
    silent, _ = register_application("intranet", tenants.acme, uri="")
    track_session(silent, tenants.acme, "user-1")
    expired, _ = register_application("forum", tenants.acme, uri="https://forum.example/bcl")
    track_session(expired, tenants.acme, "user-1", expires_at=now - timedelta(minutes=1))
    other_user, _ = register_application("chat", tenants.acme, uri="https://chat.example/bcl")
    track_session(other_user, tenants.acme, "user-2")
    globex_session = track_session(tenants.crm, tenants.globex, "user-1")

    response = report(client, tenants.wiki_credential, sub="user-1")

    assert response.status_code == 202
    event = LogoutEvent.objects.get()
    assert response.json() == {"event": event.pk, "deliveries": 2}
    assert {delivery.application for delivery in event.deliveries.all()} == {
        tenants.wiki,
        tenants.billing,
    }
    assert (event.initiator, event.sub, event.organization) == ("api", "user-1", tenants.acme)
    assert event.initiated_by_application == tenants.wiki
    for session in (wiki_session, billing_session):
        session.refresh_from_db()
        assert session.end_reason == "logout"
    globex_session.refresh_from_db()
    assert globex_session.ended_at is None


def test_a_reported_logout_ends_the_users_sessions_at_the_hub_itself(client, tenants, queued):
    track_session(tenants.billing, tenants.acme, "user-1", sid="sid-1")
    at_the_hub, of_globex = Client(), Client()
    sign_in_through_idp(at_the_hub, tenants.acme, issuer=IDP_ISSUER, sub="user-1", sid="sid-1")
    sign_in_through_idp(
        of_globex, tenants.globex, username="g", issuer=IDP_ISSUER, sub="user-1", sid="sid-1"
    )

    response = report(client, tenants.billing_credential, sub="user-1", sid="sid-1")

    assert response.status_code == 202
    assert LogoutEvent.objects.get().sessions_ended == 1
    assert (is_signed_in(at_the_hub), is_signed_in(of_globex)) == (False, True)


def test_logout_of_a_session_reaches_the_applications_holding_that_sid(client, tenants, queued):
    track_session(tenants.wiki, tenants.acme, "user-1", sid="sid-1")
    track_session(tenants.billing, tenants.acme, "user-1", sid="sid-2")

    response = report(client, tenants.billing_credential, sid="sid-1")

    assert response.status_code == 202
    assert response.json()["deliveries"] == 1
    assert Delivery.objects.get().application == tenants.wiki
    assert TrackedSession.objects.live().get().sid == "sid-2"


def test_logout_of_nobody_with_sessions_is_200_and_records_nothing(client, tenants, queued):
    track_session(tenants.crm, tenants.globex, "user-9")  # Another tenant's: not a reason.

    response = report(client, tenants.wiki_credential, sub="user-9")

    assert response.status_code == 200
    assert response.json() == {"event": None, "deliveries": 0}
    assert not LogoutEvent.objects.exists()
    assert queued == []


def test_logout_without_sub_or_sid_is_400(client, tenants, queued):
    response = report(client, tenants.wiki_credential, organization="acme")

    assert_error(response, 400, mentions="sub, sid")
    assert not LogoutEvent.objects.exists()


def test_logout_for_another_tenants_organization_is_403(client, tenants, queued):
    globex_session = track_session(tenants.crm, tenants.globex, "user-1")

    response = report(client, tenants.wiki_credential, sub="user-1", organization="globex")

    assert_error(response, 403, mentions="globex")
    assert not LogoutEvent.objects.exists()
    globex_session.refresh_from_db()
    assert globex_session.ended_at is None


def test_logout_by_an_application_of_several_organizations_must_name_one(client, tenants, queued):
    tenants.wiki.organizations.add(tenants.globex)

    response = report(client, tenants.wiki_credential, sub="user-1")

    assert_error(response, 400, mentions="organization is required")


def test_logout_is_queued_only_once_the_transaction_commits(
    client, tenants, queued, django_capture_on_commit_callbacks
):
    track_session(tenants.billing, tenants.acme, "user-1")

    with django_capture_on_commit_callbacks(execute=True):
        response = report(client, tenants.wiki_credential, sub="user-1")
        assert queued == []

    assert queued == [response.json()["event"]]


# --- Reading logout events -------------------------------------------------------------------


def test_the_reporter_reads_every_delivery_and_only_its_own_errors(client, tenants, queued):
    track_session(tenants.wiki, tenants.acme, "user-1")
    track_session(tenants.billing, tenants.acme, "user-1")
    event_id = report(client, tenants.wiki_credential, sub="user-1").json()["event"]
    Delivery.objects.filter(application=tenants.billing).update(
        state="failed", attempts=1, last_status=400, last_error="unknown audience billing-7"
    )
    Delivery.objects.filter(application=tenants.wiki).update(
        state="failed", attempts=1, last_status=400, last_error="unknown audience"
    )

    response = call(client, "GET", f"/sso/api/logouts/{event_id}/", tenants.wiki_credential)

    assert response.status_code == 200
    body = response.json()
    assert (body["event"], body["sub"], body["organization"]) == (event_id, "user-1", "acme")
    assert body["deliveries"] == [
        {
            "application": "billing",
            "sid": None,
            "state": "failed",
            "attempts": 1,
            "last_status": 400,
            "last_error": None,
            "latency_ms": None,
        },
        {
            "application": "wiki",
            "sid": None,
            "state": "failed",
            "attempts": 1,
            "last_status": 400,
            "last_error": "unknown audience",
            "latency_ms": None,
        },
    ]


def test_an_application_that_received_a_delivery_reads_only_its_own(client, tenants, queued):
    track_session(tenants.wiki, tenants.acme, "user-1", sid="sid-w")
    track_session(tenants.billing, tenants.acme, "user-1")
    tenants.billing.backchannel_logout_session_required = True
    tenants.billing.save()
    track_session(tenants.wiki, tenants.acme, "user-1", sid="sid-w2")
    event_id = report(client, tenants.wiki_credential, sub="user-1").json()["event"]
    Delivery.objects.filter(application=tenants.billing).update(
        state="delivered", attempts=1, last_status=200, latency_ms=42
    )

    response = call(client, "GET", f"/sso/api/logouts/{event_id}/", tenants.billing_credential)

    assert response.status_code == 200
    assert response.json()["deliveries"] == [
        {
            "application": "billing",
            "sid": None,
            "state": "delivered",
            "attempts": 1,
            "last_status": 200,
            "last_error": "",
            "latency_ms": 42,
        }
    ]


def test_an_event_neither_reported_nor_delivered_to_the_caller_is_404(client, tenants, queued):
    track_session(tenants.billing, tenants.acme, "user-1")
    event_id = report(client, tenants.billing_credential, sub="user-1").json()["event"]

    response = call(client, "GET", f"/sso/api/logouts/{event_id}/", tenants.wiki_credential)

    assert_error(response, 404)
    assert response.json() == call(
        client, "GET", "/sso/api/logouts/999999/", tenants.wiki_credential
    ).json() | {"error_description": f"No logout event {event_id} of this application."}


def test_reading_a_pending_event(client, tenants, queued):
    track_session(tenants.billing, tenants.acme, "user-1")
    event_id = report(client, tenants.wiki_credential, sub="user-1").json()["event"]

    body = call(client, "GET", f"/sso/api/logouts/{event_id}/", tenants.wiki_credential).json()

    assert (body["outcome"], body["completed_at"]) == ("pending", None)
    assert body["deliveries"] == [
        {
            "application": "billing",
            "sid": None,
            "state": "pending",
            "attempts": 0,
            "last_status": None,
            "last_error": None,
            "latency_ms": None,
        }
    ]


def test_reading_another_tenants_event_is_404(client, tenants, queued):
    track_session(tenants.crm, tenants.globex, "user-1")
    event_id = report(client, tenants.crm_credential, sub="user-1").json()["event"]

    response = call(client, "GET", f"/sso/api/logouts/{event_id}/", tenants.wiki_credential)

    assert_error(response, 404)


@pytest.mark.parametrize("event_id", ["999999", "-1", "0", "x", "1e3", str(2**64), "\u0661"])
def test_reading_an_unknown_event_is_a_json_404(client, tenants, event_id):
    response = call(client, "GET", f"/sso/api/logouts/{event_id}/", tenants.wiki_credential)

    assert_error(response, 404, mentions=event_id)


@pytest.mark.parametrize(
    "path",
    [
        "/sso/api/",
        "/sso/api/nope/",
        "/sso/api/logouts",
        "/sso/api/sessions",
        "/sso/api/logouts/%0A",
        "/sso/api/sessions/a%0Ab/",
    ],
)
def test_an_unknown_path_under_the_api_is_a_json_404(client, tenants, path):
    response = call(client, "POST", path, tenants.wiki_credential, {})

    assert_error(response, 404, mentions="paths end with /")


def test_a_session_id_with_a_nul_byte_is_unknown(client, tenants):
    response = call(client, "DELETE", "/sso/api/sessions/x%00y/", tenants.wiki_credential)

    assert_error(response, 404)


def test_a_session_registered_with_a_slash_before_it_was_refused_can_be_removed(client, tenants):
    session = track_session(tenants.wiki, tenants.acme, "user-1", session_id="a/b")

    response = call(client, "DELETE", "/sso/api/sessions/a%2Fb/", tenants.wiki_credential)

    assert response.status_code == 204
    session.refresh_from_db()
    assert session.end_reason == "removed"


@pytest.mark.parametrize("depth", [3_000, 8_000])
def test_deeply_nested_json_is_400(client, tenants, depth):
    raw = '{"sub": ' + "[" * depth + "]" * depth + "}"
    response = call(client, "POST", "/sso/api/logouts/", tenants.wiki_credential, raw=raw)

    assert_error(response, 400, mentions="nested too deeply")


# --- Methods ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/sso/api/sessions/", "POST"),
        ("PUT", "/sso/api/sessions/", "POST"),
        ("GET", "/sso/api/sessions/s-1/", "DELETE"),
        ("POST", "/sso/api/sessions/s-1/", "DELETE"),
        ("GET", "/sso/api/logouts/", "POST"),
        ("DELETE", "/sso/api/logouts/1/", "GET"),
        ("POST", "/sso/api/logouts/1/", "GET"),
    ],
)
def test_wrong_method_is_405_with_allow(client, tenants, method, path, allowed):
    response = call(client, method, path, tenants.wiki_credential, {})

    assert_error(response, 405, mentions=allowed)
    assert response["Allow"] == allowed


# --- Limits ----------------------------------------------------------------------------------


@pytest.fixture
def limits(settings):
    def set_limits(**values: int) -> None:
        settings.LOGOUT_SSO = {**settings.LOGOUT_SSO, **values}

    return set_limits


def assert_limited(response: Any, mentions: str) -> None:
    assert_error(response, 429, mentions=mentions)
    assert 1 <= int(response["Retry-After"]) <= 60


def test_a_user_has_at_most_max_sessions_per_user_in_one_application(client, tenants, limits):
    limits(MAX_SESSIONS_PER_USER=2)
    for session_id in ("s-1", "s-2"):
        assert register(client, tenants.wiki_credential, session_id=session_id).status_code == 201

    refused = register(client, tenants.wiki_credential, session_id="s-3")

    assert_limited(refused, 'LOGOUT_SSO["MAX_SESSIONS_PER_USER"]')
    assert register(client, tenants.wiki_credential, session_id="s-1").status_code == 200
    assert register(client, tenants.billing_credential, session_id="s-3").status_code == 201
    other_user = register(client, tenants.wiki_credential, session_id="s-4", sub="user-2")
    assert other_user.status_code == 201
    call(client, "DELETE", "/sso/api/sessions/s-1/", tenants.wiki_credential)
    assert register(client, tenants.wiki_credential, session_id="s-3").status_code == 201


def test_an_application_has_at_most_max_sessions_per_application(client, tenants, limits):
    limits(MAX_SESSIONS_PER_APPLICATION=3)
    for number in range(3):
        response = register(
            client, tenants.wiki_credential, session_id=f"s-{number}", sub=f"u{number}"
        )
        assert response.status_code == 201

    refused = register(client, tenants.wiki_credential, session_id="s-9", sub="u9")

    assert_limited(refused, 'LOGOUT_SSO["MAX_SESSIONS_PER_APPLICATION"]')
    assert TrackedSession.objects.filter(application=tenants.wiki).count() == 3
    assert register(client, tenants.billing_credential, session_id="s-9").status_code == 201


def test_an_application_reports_at_most_logout_reports_per_minute(client, tenants, queued, limits):
    limits(LOGOUT_REPORTS_PER_MINUTE=2)
    for _ in range(2):
        assert report(client, tenants.wiki_credential, sub="user-1").status_code == 200

    refused = report(client, tenants.wiki_credential, sub="user-1")

    assert_limited(refused, 'LOGOUT_SSO["LOGOUT_REPORTS_PER_MINUTE"]')
    assert report(client, tenants.billing_credential, sub="user-1").status_code == 200


def test_one_report_makes_a_bounded_fan_out_to_an_application_requiring_a_sid(
    client, tenants, queued, limits
):
    """The reproduced abuse: one call made 20,000 deliveries (one per session of one user)."""
    limits(MAX_SESSIONS_PER_USER=5)
    tenants.billing.backchannel_logout_session_required = True
    tenants.billing.save()
    answers = [
        register(client, tenants.billing_credential, session_id=f"s-{n}", sid=f"sid-{n}")
        for n in range(8)
    ]

    response = report(client, tenants.billing_credential, sub="user-1")

    assert [answer.status_code for answer in answers] == [201] * 5 + [429] * 3
    assert response.json()["deliveries"] == 5
