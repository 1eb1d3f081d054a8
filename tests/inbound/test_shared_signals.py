"""Shared Signals: SETs pushed (RFC 8935) or polled (RFC 8936) from the organization's
transmitter; CAEP, RISC and the verification event; refusals with RFC 8935's error codes and
nobody signed out."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from logout_sso.inbound.internal import polling
from logout_sso.models import LogoutEvent, SignalSource
from logout_sso.models.signal_sources import DeliveryMethod
from tests.hub_receivers import IDP_ISSUER
from tests.inbound.conftest import alice, live_sessions, nobody_signed_out, ssf_audience
from tests.receiver_keys import b64url_decode
from tests.signal_senders import (
    ACCOUNT_DISABLED,
    CREDENTIAL_CHANGE,
    DELETE,
    FORGER_KEY,
    SESSION_REVOKED,
    VERIFICATION,
    email,
)

HUB_SSF_AUDIENCE = "https://hub.example.com/sso/organizations/acme/ssf/events"


def test_session_revoked_logs_the_user_out(tenants, queued):
    token = tenants.acme_idp.security_event(ssf_audience(), {SESSION_REVOKED: {}}, alice())

    response = tenants.push(token)

    assert response.status_code == 202, response.content
    [event] = LogoutEvent.objects.all()
    assert (event.initiator, event.sub, event.sid) == ("shared_signals", "alice", "")
    assert live_sessions("alice") == 0
    assert live_sessions("bob") == 1


def test_a_session_subject_ends_that_session_only(tenants, queued):
    subject = {
        "format": "complex",
        "user": alice(),
        "session": {"format": "opaque", "id": "sid-alice-1"},
    }
    token = tenants.acme_idp.security_event(ssf_audience(), {SESSION_REVOKED: {}}, subject)

    assert tenants.push(token).status_code == 202

    [event] = LogoutEvent.objects.all()
    assert (event.sub, event.sid) == ("alice", "sid-alice-1")
    assert live_sessions("alice") == 1


def test_legacy_subject_inside_the_event_and_risc(tenants, queued):
    event = {ACCOUNT_DISABLED: {"subject": email("alice@acme.com"), "reason": "hijacking"}}
    token = tenants.acme_idp.security_event(ssf_audience(), event)

    assert tenants.push(token).status_code == 202
    assert live_sessions("alice") == 0


@pytest.mark.parametrize("logs_out", [False, True])
def test_credential_change_follows_the_source(tenants, queued, logs_out):
    tenants.acme_ssf.credential_change_logs_out = logs_out
    tenants.acme_ssf.save()
    token = tenants.acme_idp.security_event(ssf_audience(), {CREDENTIAL_CHANGE: {}}, alice())

    assert tenants.push(token).status_code == 202
    assert live_sessions("alice") == (0 if logs_out else 2)


def test_other_events_are_accepted_and_ignored(tenants, queued):
    other = "https://schemas.openid.net/secevent/caep/event-type/token-claims-change"
    token = tenants.acme_idp.security_event(ssf_audience(), {other: {}}, alice())

    assert tenants.push(token).status_code == 202
    assert nobody_signed_out()


def test_verification_event(tenants, queued):
    SignalSource.objects.filter(pk=tenants.acme_ssf.pk).update(verification_state="s-1")
    stream = {"format": "opaque", "id": "stream-1"}
    wrong = tenants.acme_idp.security_event(
        ssf_audience(), {VERIFICATION: {"state": "s-2"}}, stream
    )
    right = tenants.acme_idp.security_event(
        ssf_audience(), {VERIFICATION: {"state": "s-1"}}, stream
    )

    refused = tenants.push(wrong)
    accepted = tenants.push(right)

    assert (refused.status_code, refused.json()["err"]) == (400, "invalid_state")
    assert accepted.status_code == 202
    assert SignalSource.objects.get(pk=tenants.acme_ssf.pk).stream_verified_at is not None


def test_an_unrequested_verification_is_accepted(tenants, queued):
    token = tenants.acme_idp.security_event(
        ssf_audience(), {VERIFICATION: {}}, {"format": "opaque", "id": "stream-1"}
    )

    assert tenants.push(token).status_code == 202
    assert SignalSource.objects.get(pk=tenants.acme_ssf.pk).stream_verified_at is None


@pytest.mark.parametrize(
    ("claims", "header", "err"),
    [
        ({"aud": "https://other.example.com/"}, None, "invalid_audience"),
        ({"iss": "https://evil.example.com"}, None, "invalid_issuer"),
        ({"iat": 1_000_000_000}, None, "invalid_request"),
        ({"jti": DELETE}, None, "invalid_request"),
        ({"events": DELETE}, None, "invalid_request"),
        (None, {"typ": "JWT"}, "invalid_request"),
        (None, {"alg": "none"}, "invalid_key"),
        (None, {"kid": "unknown"}, "invalid_key"),
    ],
)
def test_invalid_sets_are_refused(tenants, queued, claims, header, err):
    token = tenants.acme_idp.security_event(
        ssf_audience(), {SESSION_REVOKED: {}}, alice(), claims, header
    )

    response = tenants.push(token)

    assert (response.status_code, response.json()["err"]) == (400, err), response.content
    assert nobody_signed_out()


def test_forged_and_replayed_sets(tenants, queued):
    forged = tenants.acme_idp.security_event(
        ssf_audience(), {SESSION_REVOKED: {}}, alice(), key=FORGER_KEY
    )
    assert tenants.push(forged).json()["err"] == "authentication_failed"
    token = tenants.acme_idp.security_event(
        ssf_audience(), {SESSION_REVOKED: {}}, {"format": "opaque", "id": "bob"}
    )
    assert tenants.push(token).status_code == 202

    replayed = tenants.push(token)

    assert (replayed.status_code, replayed.json()["err"]) == (400, "invalid_request")
    assert LogoutEvent.objects.count() == 1
    assert live_sessions("alice") == 2


@pytest.mark.parametrize(
    "subject",
    [
        {"format": "iss_sub", "iss": IDP_ISSUER, "sub": "alice"},
        email("alice@acme.com"),
        {"format": "complex", "session": {"format": "opaque", "id": "sid-alice-1"}},
    ],
)
def test_globex_transmitter_naming_acme_user_ends_nothing(tenants, queued, subject):
    token = tenants.globex_idp.security_event(
        ssf_audience("globex"), {ACCOUNT_DISABLED: {}}, subject
    )

    assert tenants.push(token, slug="globex").status_code == 202  # Accepted: nobody to end.
    assert nobody_signed_out()


def test_globex_transmitter_at_acme_endpoint_is_an_untrusted_issuer(tenants, queued):
    token = tenants.globex_idp.security_event(ssf_audience(), {SESSION_REVOKED: {}}, alice())

    assert tenants.push(token).json()["err"] == "invalid_issuer"
    assert nobody_signed_out()


def test_wrong_content_type_and_size(tenants, queued):
    from django.test import Client

    token = tenants.acme_idp.security_event(ssf_audience(), {SESSION_REVOKED: {}}, alice())
    as_json = Client().post(
        "/sso/organizations/acme/ssf/events", token, content_type="application/json"
    )
    too_long = tenants.push("a" * 70_000)

    assert (as_json.status_code, too_long.status_code) == (400, 400)
    assert nobody_signed_out()


def test_keys_from_the_transmitter_configuration(tenants, queued):
    assert not tenants.acme_ssf.jwks_uri  # Found through /.well-known/ssf-configuration.
    token = tenants.acme_idp.security_event(ssf_audience(), {SESSION_REVOKED: {}}, alice())

    assert tenants.push(token).status_code == 202
    assert tenants.acme_idp.requests["/.well-known/ssf-configuration"] == 1


# --- Poll delivery ---------------------------------------------------------------------------


@pytest.fixture
def polled(tenants, settings):
    source = tenants.acme_ssf
    source.delivery_method = DeliveryMethod.POLL
    source.stream_endpoint_url = tenants.acme_idp.poll_url
    source.set_management_token(tenants.acme_idp.management_token)
    source.save()
    settings.LOGOUT_SSO = {**settings.LOGOUT_SSO, "PUBLIC_URL": "https://hub.example.com"}
    return tenants


def test_poll_processes_acknowledges_and_reports_errors(polled, queued):
    idp = polled.acme_idp
    good = idp.security_event(HUB_SSF_AUDIENCE, {SESSION_REVOKED: {}}, alice())
    bad = idp.security_event("https://other.example.com", {SESSION_REVOKED: {}}, alice())
    idp.hold(good, bad)

    totals = polling.poll_all()

    assert totals == {"sources": 1, "received": 1, "refused": 1, "failed": 0}
    assert live_sessions("alice") == 0
    assert idp.waiting == []
    first, last = idp.poll_requests
    assert first == {"ack": [], "maxEvents": polling.MAX_EVENTS, "returnImmediately": True}
    good_jti, bad_jti = _jtis(good, bad)
    assert last["ack"] == [good_jti]
    assert last["setErrs"][bad_jti]["err"] == "invalid_audience"
    assert last["maxEvents"] == 0


def test_a_set_polled_twice_is_acknowledged_again(polled, queued):
    idp = polled.acme_idp
    token = idp.security_event(HUB_SSF_AUDIENCE, {SESSION_REVOKED: {}}, alice())
    idp.hold(token)
    polling.poll_all()
    idp.hold(token)  # The acknowledgement was lost.

    assert polling.poll_all()["received"] == 0
    assert idp.poll_requests[-1]["ack"] == list(_jtis(token))
    assert LogoutEvent.objects.count() == 1


def test_a_poll_endpoint_refusing_the_credential_is_reported(polled, queued):
    polled.acme_ssf.set_management_token("wrong")
    polled.acme_ssf.save()

    assert polling.poll_all()["failed"] == 1


def _jtis(*tokens: str) -> Iterator[str]:
    for token in tokens:
        yield json.loads(b64url_decode(token.split(".")[1]))["jti"]


def test_a_management_credential_with_a_line_break_is_not_sent(polled, queued):
    polled.acme_ssf.set_management_token("token\r\nX-Injected: 1")
    polled.acme_ssf.save()

    assert polling.poll_all()["failed"] == 1
    assert polled.acme_idp.poll_requests == []


def test_a_credential_sealed_under_another_key_fails_that_source_only(polled, queued, settings):
    settings.SECRET_KEY = "another secret key, the old one forgotten"

    assert polling.poll_all() == {"sources": 1, "received": 0, "refused": 0, "failed": 1}


def test_poll_without_an_audience_or_public_url_fails_saying_so(polled, queued, settings):
    settings.LOGOUT_SSO = {**settings.LOGOUT_SSO, "PUBLIC_URL": None}
    polled.acme_idp.hold(
        polled.acme_idp.security_event(HUB_SSF_AUDIENCE, {SESSION_REVOKED: {}}, alice())
    )

    assert polling.poll_all()["failed"] == 1
    assert polled.acme_idp.poll_requests == []
    assert nobody_signed_out()
