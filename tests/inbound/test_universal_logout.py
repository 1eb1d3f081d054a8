"""Universal Logout (draft-parecki-oauth-global-token-revocation, Okta's endpoint
authentication): a request signed by the organization's identity provider logs the user out
of every application; anything else is refused with the draft's status and nobody is signed
out."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from logout_sso.models import Delivery, LogoutEvent, ReceivedSignal, TrackedSession
from tests.hub_receivers import IDP_ISSUER
from tests.inbound.conftest import (
    alice,
    live_sessions,
    nobody_signed_out,
    ssf_audience,
    ul_audience,
)
from tests.services import at_once
from tests.signal_senders import (
    DELETE,
    FORGER_KEY,
    SENDER_EC_KEY,
    SESSION_REVOKED,
    email,
    iss_sub,
)


def test_a_signed_request_logs_the_user_out_of_every_application(tenants, queued):
    token = tenants.acme_idp.bearer(ul_audience())

    response = tenants.revoke(token, alice())

    assert response.status_code == 204, response.content
    [event] = LogoutEvent.objects.all()
    assert (event.initiator, event.organization, event.sub) == (
        "universal_logout",
        tenants.acme,
        "alice",
    )
    # Its deliveries are written, to be sent by the workers: the answer did not wait.
    assert Delivery.objects.filter(event=event, state="pending").count() == 2
    assert live_sessions("alice") == 0
    assert live_sessions("bob") == 1
    assert ReceivedSignal.objects.filter(source=tenants.acme_ul).count() == 1


@pytest.mark.parametrize("subject", [email("ALICE@acme.com"), {"format": "opaque", "id": "alice"}])
def test_email_and_opaque_subjects(tenants, queued, subject):
    response = tenants.revoke(tenants.acme_idp.bearer(ul_audience()), subject)

    assert response.status_code == 204, response.content
    assert live_sessions("alice") == 0
    assert live_sessions("bob") == 1


def test_es256_and_the_configured_audience(tenants, queued):
    tenants.acme_ul.audience = "urn:acme:okta"
    tenants.acme_ul.save()
    token = tenants.acme_idp.bearer("urn:acme:okta", key=SENDER_EC_KEY)

    assert tenants.revoke(token, alice()).status_code == 204


def test_a_user_without_live_sessions_is_a_success(tenants, queued):
    TrackedSession.objects.filter(sub="alice").update(ended_at=timezone.now(), end_reason="logout")

    response = tenants.revoke(tenants.acme_idp.bearer(ul_audience()), alice())

    assert response.status_code == 204
    assert not LogoutEvent.objects.exists()


def _refused(tenants, response, status):
    assert response.status_code == status, response.content
    assert nobody_signed_out()
    assert not ReceivedSignal.objects.exists()
    return response


def now() -> int:
    return int(time.time())


@pytest.mark.parametrize(
    ("claims", "header"),
    [
        ({"exp": now() - 120, "iat": now() - 600}, None),  # expired
        ({"iat": now() - 2 * 86400, "exp": now() + 60}, None),  # too old
        ({"iat": now() + 3600}, None),  # from the future
        ({"aud": "https://other.example.com/"}, None),  # wrong audience
        ({"aud": ul_audience("globex")}, None),  # another organization's endpoint
        ({"iss": "https://evil.example.com"}, None),  # wrong issuer
        ({"exp": DELETE}, None),
        ({"jti": DELETE}, None),
        ({"jti": ""}, None),
        (None, {"alg": "none"}),
        (None, {"alg": "HS256"}),
        (None, {"kid": "unknown"}),
    ],
)
def test_invalid_tokens_are_refused_with_401(tenants, queued, claims, header):
    token = tenants.acme_idp.bearer(ul_audience(), claims, header)

    response = _refused(tenants, tenants.revoke(token, alice()), 401)

    assert response["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_a_forged_signature_is_refused(tenants, queued):
    token = tenants.acme_idp.bearer(ul_audience(), key=FORGER_KEY)

    _refused(tenants, tenants.revoke(token, alice()), 401)


def test_no_bearer_is_401_with_a_challenge(tenants, queued):
    response = _refused(tenants, tenants.revoke(None, alice()), 401)

    assert response["WWW-Authenticate"] == "Bearer"


def test_a_replayed_jti_is_refused(tenants, queued):
    token = tenants.acme_idp.bearer(ul_audience())
    assert tenants.revoke(token, alice()).status_code == 204

    response = tenants.revoke(token, {"format": "opaque", "id": "bob"})

    assert response.status_code == 401
    assert live_sessions("bob") == 1


def test_an_unknown_organization_answers_as_a_bad_token(tenants, queued):
    token = tenants.acme_idp.bearer(
        "http://testserver/sso/organizations/nowhere/global-token-revocation"
    )

    unknown = _refused(tenants, tenants.revoke(token, alice(), slug="nowhere"), 401)
    untrusted = tenants.revoke(
        tenants.acme_idp.bearer(ul_audience(), {"iss": "https://nobody.example.com"}), alice()
    )

    forged = tenants.revoke(tenants.acme_idp.bearer(ul_audience(), key=FORGER_KEY), alice())
    assert unknown.json() == untrusted.json() == forged.json()


def test_a_disabled_source_is_not_trusted(tenants, queued):
    tenants.acme_ul.enabled = False
    tenants.acme_ul.save()

    _refused(tenants, tenants.revoke(tenants.acme_idp.bearer(ul_audience()), alice()), 401)


def test_acme_idp_cannot_use_globex_endpoint(tenants, queued):
    token = tenants.acme_idp.bearer(ul_audience("globex"))

    _refused(tenants, tenants.revoke(token, iss_sub(IDP_ISSUER, "gail"), slug="globex"), 401)


@pytest.mark.parametrize(
    "subject", [alice(), email("alice@acme.com"), {"format": "opaque", "id": "alice"}]
)
def test_a_hostile_source_naming_another_organization_user_finds_nobody(tenants, queued, subject):
    token = tenants.globex_idp.bearer(ul_audience("globex"))

    _refused(tenants, tenants.revoke(token, subject, slug="globex"), 404)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"format": "phone_number", "phone_number": "+1 206 555 0123"}, 400),
        ({"format": "iss_sub", "iss": IDP_ISSUER}, 400),
        ({"format": "email", "email": "nobody@acme.com"}, 404),
        ({"format": "complex", "user": {"format": "complex"}}, 400),
        ("not an object", 400),
    ],
)
def test_bad_subjects(tenants, queued, body, status):
    token = tenants.acme_idp.bearer(ul_audience())

    _refused(tenants, tenants.revoke(token, body), status)


def test_a_body_that_is_not_json_is_400(tenants, queued):
    from django.test import Client

    response = Client().post(
        "/sso/organizations/acme/global-token-revocation",
        b"{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {tenants.acme_idp.bearer(ul_audience())}",
    )

    _refused(tenants, response, 400)


def test_get_is_405(tenants):
    from django.test import Client

    response = Client().get("/sso/organizations/acme/global-token-revocation")

    assert response.status_code == 405
    assert response["Allow"] == "POST"


@pytest.mark.django_db(transaction=True)
def test_the_same_request_twice_at_once_acts_once(tenants, queued):
    token = tenants.acme_idp.bearer(ul_audience())
    tenants.revoke(tenants.acme_idp.bearer(ul_audience()), {"format": "opaque", "id": "bob"})

    statuses = at_once(lambda: tenants.revoke(token, alice()).status_code)

    assert sorted(statuses) == [204, 401]
    assert LogoutEvent.objects.filter(sub="alice").count() == 1


def test_a_source_on_a_private_address_is_not_fetched(tenants, queued, settings):
    """An organization's admin typed the source's URLs: no request to an address that is not
    public (unless DELIVERY_ALLOW_PRIVATE_ADDRESSES), and the answer says nothing of why."""
    settings.LOGOUT_SSO = {**settings.LOGOUT_SSO, "DELIVERY_ALLOW_PRIVATE_ADDRESSES": False}
    token = tenants.acme_idp.bearer(ul_audience())

    response = tenants.revoke(token, alice())
    pushed = tenants.push(
        tenants.acme_idp.security_event(ssf_audience(), {SESSION_REVOKED: {}}, alice())
    )

    assert (response.status_code, pushed.status_code) == (503, 503)
    assert response.json() == {"error": "temporarily_unavailable"}
    assert tenants.acme_idp.requests.total() == 0
    assert nobody_signed_out()
