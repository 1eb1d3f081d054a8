"""The admin of signal sources: an organization's admin connects its Shared Signals transmitter
(the test transmitter of ``tests/ssf_transmitter.py``) and manages its stream, never sees the
management credential again, and reaches nothing of another organization's sources."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from logout_sso.inbound.internal import guarded_http
from logout_sso.models import Organization, SignalSource
from logout_sso.models.signal_sources import (
    ACCOUNT_DISABLED,
    SESSION_REVOKED,
    VERIFICATION,
    SignalKind,
)
from tests.loopback import Reply, json_reply
from tests.ssf_transmitter import PUSH, SET_TYPE, TOKEN, Transmitter

CHANGELIST = "admin:logout_sso_signalsource_changelist"


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    settings.LOGOUT_SSO = {"DELIVERY_ALLOW_PRIVATE_ADDRESSES": True}


@pytest.fixture
def globex(make_organization: Callable[..., Organization]) -> Organization:
    return make_organization("globex")


@pytest.fixture
def acme_admin(client: Client, make_org_admin, acme: Organization) -> User:
    user: User = make_org_admin("acme_admin", acme)
    client.force_login(user)
    return user


@pytest.fixture
def source(acme: Organization, transmitter: Transmitter) -> SignalSource:
    source = SignalSource(
        organization=acme,
        name="Okta",
        kind=SignalKind.SHARED_SIGNALS,
        issuer=transmitter.issuer,
        events_requested=[SESSION_REVOKED, ACCOUNT_DISABLED],
    )
    source.set_management_token(TOKEN)
    source.save()
    return source


@pytest.fixture
def pages() -> list[str]:
    """Every page's text seen by :func:`act`, for the checks that the credential is in none."""
    return []


def act(client: Client, pages: list[str], operation: str, *sources: SignalSource) -> list[Any]:
    """Run an admin action on ``sources``; the messages it leaves (level tag, text)."""
    response = client.post(
        reverse(CHANGELIST),
        {"action": operation, "_selected_action": [s.pk for s in sources]},
        follow=True,
    )
    assert response.status_code == 200
    pages.append(response.content.decode())
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def form_data(
    organization: Organization, transmitter: Transmitter, **fields: Any
) -> dict[str, Any]:
    return {
        "organization": organization.pk,
        "name": "Okta",
        "kind": SignalKind.SHARED_SIGNALS,
        "enabled": "on",
        "issuer": transmitter.issuer,
        "jwks_uri": "",
        "audience": "",
        "configuration_url": "",
        "delivery_method": PUSH,
        "events_requested": [SESSION_REVOKED, ACCOUNT_DISABLED],
        **fields,
    }


@pytest.mark.django_db
def test_an_organization_admin_adds_a_source_whose_credential_is_never_shown_again(
    client, acme_admin, acme, transmitter, caplog
):
    caplog.set_level(logging.DEBUG)
    add = reverse("admin:logout_sso_signalsource_add")
    response = client.post(add, form_data(acme, transmitter, management_token=TOKEN), follow=True)

    source = SignalSource.objects.get()
    assert source.management_token == TOKEN
    assert TOKEN not in source.management_token_sealed
    change = client.get(reverse("admin:logout_sso_signalsource_change", args=[source.pk]))
    text = change.content.decode()
    assert 'name="management_token"' in text
    assert '<div class="readonly">set</div>' in text
    for page in (response.content.decode(), text, client.get(reverse(CHANGELIST)).content.decode()):
        assert TOKEN not in page
    assert TOKEN not in caplog.text
    assert all(TOKEN not in entry.change_message for entry in LogEntry.objects.all())


@pytest.mark.django_db
def test_an_empty_credential_keeps_the_current_one_and_the_checkbox_forgets_it(
    client, acme_admin, acme, source, transmitter
):
    change = reverse("admin:logout_sso_signalsource_change", args=[source.pk])

    client.post(change, form_data(acme, transmitter, management_token=""))
    source.refresh_from_db()
    assert source.management_token == TOKEN

    client.post(change, form_data(acme, transmitter, management_token="new-one"))
    source.refresh_from_db()
    assert source.management_token == "new-one"

    client.post(change, form_data(acme, transmitter, clear_management_token="on"))
    source.refresh_from_db()
    assert not source.has_management_token
    assert "not set" in client.get(change).content.decode()


@pytest.mark.django_db
def test_a_transmitter_source_needs_an_https_issuer_and_events(
    client, acme_admin, acme, transmitter
):
    response = client.post(
        reverse("admin:logout_sso_signalsource_add"),
        form_data(acme, transmitter, issuer="http://idp.example.com", events_requested=[]),
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "must use https" in errors["issuer"][0]
    assert errors["events_requested"] == ["Ask the transmitter for one event type at least."]
    assert not SignalSource.objects.exists()


@pytest.mark.django_db
def test_the_action_creates_the_stream_and_shows_its_id_and_status(
    client, acme_admin, source, transmitter, pages, caplog
):
    caplog.set_level(logging.DEBUG)

    said = act(client, pages, "save_stream", source)

    source.refresh_from_db()
    assert said == [("success", f"Acme: Okta: Stream {source.stream_id} created, enabled.")]
    (create,) = transmitter.requests_to("/ssf/stream", "POST")
    assert create.headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(create.body)["delivery"] == {
        "method": PUSH,
        "endpoint_url": "http://testserver/sso/organizations/acme/ssf/events",
    }
    assert json.loads(create.body)["events_requested"] == [SESSION_REVOKED, ACCOUNT_DISABLED]
    listed = client.get(reverse(CHANGELIST)).content.decode()
    assert "enabled" in listed

    # Again: the same stream, updated.
    said = act(client, pages, "save_stream", source)
    assert said == [("success", f"Acme: Okta: Stream {source.stream_id} updated, enabled.")]
    assert len(transmitter.requests_to("/ssf/stream", "PATCH")) == 1

    transmitter.statuses[source.stream_id] = "paused"
    said = act(client, pages, "check_status", source)
    assert said == [("success", f"Acme: Okta: Stream {source.stream_id}: paused.")]
    source.refresh_from_db()
    assert source.stream_status == "paused"

    said = act(client, pages, "fetch_configuration", source)
    assert said[0][0] == "success"
    assert f"Transmitter {transmitter.issuer}: delivery methods" in said[0][1]

    assert all(TOKEN not in page for page in pages)
    assert TOKEN not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_verification_request_makes_the_transmitter_push_a_signed_set_to_this_organization(
    client, make_org_admin, acme, transmitter, live_server, settings
):
    """With ``PUBLIC_URL`` the live server's: the transmitter POSTs its verification SET to
    this organization's push endpoint, signed with its key, echoing the state kept on the
    source; the endpoint accepts it and records the stream as verified."""
    settings.LOGOUT_SSO = {**settings.LOGOUT_SSO, "PUBLIC_URL": live_server.url}
    client.force_login(make_org_admin("acme_admin", acme))
    source = SignalSource(
        organization=acme, name="Okta", kind=SignalKind.SHARED_SIGNALS, issuer=transmitter.issuer
    )
    source.set_management_token(TOKEN)
    source.save()
    act(client, [], "save_stream", source)

    said = act(client, [], "request_verification", source)

    source.refresh_from_db()
    assert source.stream_verified_at is not None  # The receiving side accepted it.
    assert said == [
        (
            "success",
            f"Acme: Okta: Verification event requested on stream {source.stream_id}: its "
            "arrival is recorded as the stream's verification.",
        )
    ]
    (pushed,) = transmitter.pushed
    assert pushed.url == f"{live_server.url}/sso/organizations/acme/ssf/events"
    assert pushed.content_type == SET_TYPE
    assert pushed.status == 202
    key = jwt.PyJWK(transmitter.jwks()["keys"][0])
    claims = jwt.decode(pushed.token, key, algorithms=["ES256"], audience=pushed.url)
    assert jwt.get_unverified_header(pushed.token)["typ"] == "secevent+jwt"
    assert claims["iss"] == source.issuer
    assert claims["sub_id"] == {"format": "opaque", "id": source.stream_id}
    assert claims["events"] == {VERIFICATION: {"state": source.verification_state}}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (
            json_reply({"error": "invalid_token", "error_description": "Bad token."}, 401),
            "answered 401 Unauthorized: invalid_token: Bad token.",
        ),
        (
            json_reply(
                {"error": "invalid_request", "error_description": "Unknown <b>event</b>."}, 400
            ),
            "answered 400 Bad Request: invalid_request: Unknown <b>event</b>.",
        ),
        (Reply(201, body=b"<html>oops</html>"), "did not answer JSON: <html>oops</html>"),
        (Reply(201, delay=1.0), "did not answer within 0.3 s."),
    ],
)
def test_transmitter_errors_are_shown_clearly(
    client, acme_admin, source, transmitter, pages, monkeypatch, reply, said
):
    monkeypatch.setattr(guarded_http, "TOTAL_TIMEOUT_SECONDS", 0.3)
    transmitter.scripted["/ssf/stream"] = reply

    (message,) = act(client, pages, "save_stream", source)

    assert message[0] == "error"
    assert message[1].startswith("Acme: Okta: Creating the stream failed: ")
    assert message[1].endswith(said)
    assert "<b>" not in pages[0]  # Escaped on the page.
    source.refresh_from_db()
    assert source.stream_error.endswith(said)
    assert TOKEN not in pages[0]


@pytest.mark.django_db
def test_a_wrong_credential_is_refused_by_the_transmitter(
    client, acme_admin, source, transmitter, pages
):
    source.set_management_token("not-the-token")
    source.save()

    (message,) = act(client, pages, "save_stream", source)

    assert message == (
        "error",
        f"Acme: Okta: Creating the stream failed: {transmitter.url}/ssf/stream answered 401 "
        "Unauthorized: invalid_token: Bad token.",
    )


@pytest.mark.django_db
def test_another_organizations_admin_gets_404_and_cannot_pick_it(
    client, make_org_admin, acme, globex, source, transmitter
):
    client.force_login(make_org_admin("globex_admin", globex))

    page = client.get(reverse("admin:logout_sso_signalsource_change", args=[source.pk]))
    assert page.status_code == 404
    assert source.name not in client.get(reverse(CHANGELIST)).content.decode()
    response = client.post(
        reverse(CHANGELIST), {"action": "save_stream", "_selected_action": [source.pk]}
    )
    assert transmitter.requests == []  # Nothing selected of another organization.
    assert response.status_code in (200, 302)

    add = client.get(reverse("admin:logout_sso_signalsource_add"))
    choices = add.context["adminform"].form.fields["organization"].queryset
    assert list(choices) == [globex]
    posted = client.post(
        reverse("admin:logout_sso_signalsource_add"), form_data(acme, transmitter, name="Evil")
    )
    assert "organization" in posted.context["adminform"].form.errors
    assert not SignalSource.objects.filter(name="Evil").exists()


@pytest.mark.django_db
def test_the_organizations_page_links_to_its_signal_sources(client, acme_admin, acme, source):
    page = client.get(reverse("admin:logout_sso_organization_change", args=[acme.pk]))
    link = f"{reverse(CHANGELIST)}?organization__id__exact={acme.pk}"

    assert link in page.content.decode()
    assert source.name in client.get(link).content.decode()


@pytest.mark.django_db
def test_a_sources_organization_is_fixed_once_created(
    client, make_org_admin, acme, globex, source, transmitter
):
    client.force_login(make_org_admin("both_admin", acme, globex))
    change = reverse("admin:logout_sso_signalsource_change", args=[source.pk])

    form = client.get(change).context["adminform"].form
    client.post(change, form_data(globex, transmitter))

    assert "organization" not in form.fields
    source.refresh_from_db()
    assert source.organization == acme
