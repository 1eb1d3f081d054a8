"""Stream management at a Shared Signals transmitter (SSF 1.0, sections 7 and 8), against the
test transmitter of ``tests/ssf_transmitter.py``: what it is asked, what is kept on the source,
and how its refusals are said."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest

from logout_sso.inbound.internal import guarded_http, streams
from logout_sso.inbound.internal import transmitter as transmitters
from logout_sso.inbound.internal.transmitter import TransmitterError
from logout_sso.models import Organization, SignalSource
from logout_sso.models.signal_sources import DeliveryMethod, SignalKind
from tests.loopback import Reply, json_reply
from tests.ssf_transmitter import POLL, PUSH, SUPPORTED, TOKEN, Transmitter

EVENTS_URL = "https://hub.example.com/sso/organizations/acme/ssf/events"


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    settings.LOGOUT_SSO = {"DELIVERY_ALLOW_PRIVATE_ADDRESSES": True}


@pytest.fixture
def make_source(acme: Organization) -> Callable[..., SignalSource]:
    def make(transmitter: Transmitter, token: str | None = TOKEN, **fields) -> SignalSource:
        fields = {"name": "Okta", "kind": SignalKind.SHARED_SIGNALS, **fields}
        source = SignalSource(organization=acme, issuer=transmitter.issuer, **fields)
        if token:
            source.set_management_token(token)
        source.save()
        return source

    return make


def test_the_configuration_is_at_the_issuers_well_known_url(make_source, transmitter):
    report = streams.fetch_configuration(make_source(transmitter))

    assert [r.path for r in transmitter.requests] == ["/.well-known/ssf-configuration"]
    assert report.details["configuration_endpoint"] == f"{transmitter.url}/ssf/stream"
    assert report.message == (
        f"Transmitter {transmitter.issuer}: delivery methods {PUSH}, {POLL}; keys at "
        f"{transmitter.url}/jwks."
    )


def test_an_issuer_with_a_path_has_its_configuration_after_the_well_known_part(make_source):
    tenant = Transmitter(issuer_path="/tenant-1/")
    try:
        source = make_source(tenant)
        assert transmitters.configuration_url(source) == (
            f"{tenant.url}/.well-known/ssf-configuration/tenant-1"
        )
        streams.fetch_configuration(source)
    finally:
        tenant.close()
    assert [r.path for r in tenant.requests] == ["/.well-known/ssf-configuration/tenant-1"]


def test_the_configuration_must_name_the_sources_issuer(make_source, transmitter):
    source = make_source(transmitter)
    transmitter.scripted[transmitter.well_known] = json_reply(
        {**transmitter.metadata(), "issuer": "https://evil.example.com"}
    )

    with pytest.raises(TransmitterError, match=r"names the issuer https://evil\.example\.com, not"):
        streams.fetch_configuration(source)


def test_the_configuration_is_cached_briefly(make_source, transmitter):
    source = make_source(transmitter)
    streams.save_stream(source, EVENTS_URL)
    streams.check_status(source)

    assert len(transmitter.requests_to(transmitter.well_known)) == 1


def test_a_push_stream_is_created_with_this_organizations_endpoint(make_source, transmitter):
    source = make_source(transmitter)

    report = streams.save_stream(source, EVENTS_URL)

    (create,) = transmitter.requests_to("/ssf/stream", "POST")
    assert create.headers["Authorization"] == f"Bearer {TOKEN}"
    assert create.headers["Content-Type"] == "application/json"
    body = json.loads(create.body)
    assert body["delivery"] == {"method": PUSH, "endpoint_url": EVENTS_URL}
    assert body["events_requested"] == source.events_requested
    source.refresh_from_db()
    assert source.stream_id in transmitter.streams
    assert (source.stream_status, source.stream_error) == ("enabled", "")
    assert source.stream_checked_at is not None
    assert report.message == f"Stream {source.stream_id} created, enabled."
    # The transmitter delivers only some of the events asked for: said, not an error.
    assert report.warnings == (
        "The transmitter does not deliver "
        "https://schemas.openid.net/secevent/caep/event-type/credential-change.",
    )


def test_a_status_that_cannot_be_read_after_creating_the_stream_is_a_warning(
    make_source, transmitter
):
    source = make_source(transmitter)
    transmitter.scripted["/ssf/status"] = json_reply({"error": "unavailable"}, 503)

    report = streams.save_stream(source, EVENTS_URL)

    assert report.message == f"Stream {source.stream_id} created."
    assert report.warnings[-1].startswith("Reading the stream's status failed: ")
    source.refresh_from_db()
    assert source.stream_id in transmitter.streams
    assert source.stream_error.endswith("answered 503 Service Unavailable: unavailable")


def test_a_stream_is_updated_in_place(make_source, transmitter):
    source = make_source(transmitter)
    streams.save_stream(source, EVENTS_URL)
    first = source.stream_id
    source.events_requested = list(SUPPORTED)
    source.save()

    report = streams.save_stream(source, EVENTS_URL)

    (update,) = transmitter.requests_to("/ssf/stream", "PATCH")
    assert json.loads(update.body)["stream_id"] == first
    assert transmitter.streams[first]["events_requested"] == list(SUPPORTED)
    assert source.stream_id == first
    assert report.message == f"Stream {first} updated, enabled."
    assert report.warnings == ()


def test_a_stream_the_transmitter_forgot_is_created_again(make_source, transmitter):
    source = make_source(transmitter)
    streams.save_stream(source, EVENTS_URL)
    transmitter.streams.clear()

    report = streams.save_stream(source, EVENTS_URL)

    assert "created" in report.message
    assert source.stream_id in transmitter.streams


def test_a_transmitter_of_one_stream_per_receiver_has_it_taken_over(make_source):
    single = Transmitter(one_stream=True)
    try:
        source = make_source(single)
        streams.save_stream(source, EVENTS_URL)
        kept = source.stream_id
        SignalSource.objects.filter(pk=source.pk).update(stream_id="")
        source.refresh_from_db()

        report = streams.save_stream(source, EVENTS_URL)
    finally:
        single.close()
    assert source.stream_id == kept
    assert report.message.startswith(f"Stream {kept} updated")


def test_a_poll_stream_keeps_the_endpoint_the_transmitter_gives(make_source, transmitter):
    source = make_source(transmitter, delivery_method=DeliveryMethod.POLL)

    streams.save_stream(source, None)

    (create,) = transmitter.requests_to("/ssf/stream", "POST")
    assert json.loads(create.body)["delivery"] == {"method": POLL}
    source.refresh_from_db()
    assert source.stream_endpoint_url == f"{transmitter.url}/ssf/poll/{source.stream_id}"


def test_a_push_stream_needs_the_public_address(make_source, transmitter):
    with pytest.raises(TransmitterError, match="needs this project's public address"):
        streams.save_stream(make_source(transmitter), None)


def test_an_audience_other_than_the_sources_is_said(make_source, transmitter):
    source = make_source(transmitter, audience="https://hub.example.com/")

    report = streams.save_stream(source, EVENTS_URL)

    assert report.warnings[-1] == (
        f"The stream's events will name the audience {EVENTS_URL}, and this source expects "
        "https://hub.example.com/: set the source's audience to the transmitter's, or its "
        "events are refused."
    )


def test_status_and_verification(make_source, transmitter):
    source = make_source(transmitter, delivery_method=DeliveryMethod.POLL)
    streams.save_stream(source, None)
    transmitter.statuses[source.stream_id] = "paused"

    assert streams.check_status(source).message == f"Stream {source.stream_id}: paused."
    report = streams.request_verification(source)

    (verify,) = transmitter.requests_to("/ssf/verify", "POST")
    source.refresh_from_db()
    assert json.loads(verify.body) == {
        "stream_id": source.stream_id,
        "state": source.verification_state,
    }
    assert len(source.verification_state) >= 32
    assert source.stream_status == "paused"
    assert "Verification event requested" in report.message


def test_a_stream_is_deleted(make_source, transmitter):
    source = make_source(transmitter)
    streams.save_stream(source, EVENTS_URL)
    stream_id = source.stream_id

    assert streams.delete_stream(source).message == f"Stream {stream_id} deleted."
    source.refresh_from_db()
    assert (source.stream_id, source.stream_status) == ("", "")
    assert transmitter.streams == {}


def test_no_stream_no_status(make_source, transmitter):
    with pytest.raises(TransmitterError, match="has no stream yet: create it first"):
        streams.check_status(make_source(transmitter))


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (
            json_reply({"error": "invalid_request", "error_description": "No such event."}, 400),
            "answered 400 Bad Request: invalid_request: No such event.",
        ),
        (
            Reply(500, body=b"<html>\x1b[31mdown</html>"),
            r"answered 500 Internal Server Error: "
            r"<html>\x1b[31mdown</html>",
        ),
        (Reply(201, body=b"not json"), "did not answer JSON: not json"),
        (json_reply({"error": "x", "error_description": "y" * 1000}, 400), "y" * 280),
    ],
)
def test_refusals_are_said_with_the_status_and_the_transmitters_words(
    make_source, transmitter, reply, said
):
    source = make_source(transmitter)
    transmitter.scripted["/ssf/stream"] = reply

    with pytest.raises(TransmitterError) as raised:
        streams.save_stream(source, EVENTS_URL)

    assert said in str(raised.value)
    assert "\x1b" not in str(raised.value)
    assert len(str(raised.value)) < 500
    source.refresh_from_db()
    assert source.stream_error == str(raised.value)


def test_a_wrong_credential_is_401_and_never_said(make_source, transmitter):
    source = make_source(transmitter, token="wrong-token-value")
    transmitter.scripted["/ssf/stream"] = json_reply(
        {"error": "invalid_token", "error_description": "Token wrong-token-value is unknown."},
        401,
    )

    with pytest.raises(TransmitterError) as raised:
        streams.save_stream(source, EVENTS_URL)

    assert str(raised.value) == (
        f"Creating the stream failed: {transmitter.url}/ssf/stream answered 401 Unauthorized: "
        "invalid_token: Token [credential] is unknown."
    )


def test_no_credential_says_so(make_source, transmitter):
    with pytest.raises(TransmitterError, match=r"401 Unauthorized: .*no management credential"):
        streams.save_stream(make_source(transmitter, token=None), EVENTS_URL)


def test_a_silent_transmitter_times_out(make_source, transmitter, monkeypatch):
    monkeypatch.setattr(guarded_http, "TOTAL_TIMEOUT_SECONDS", 0.3)
    source = make_source(transmitter)
    transmitter.scripted["/ssf/stream"] = Reply(201, delay=1.0)

    with pytest.raises(TransmitterError, match=r"did not answer within 0.3 s"):
        streams.save_stream(source, EVENTS_URL)
    source.refresh_from_db()
    assert source.stream_checked_at is None  # No answer.


def test_a_huge_answer_is_refused(make_source, transmitter):
    source = make_source(transmitter)
    huge = b"x" * (guarded_http.MAX_ANSWER_BYTES + 1)
    transmitter.scripted["/ssf/stream"] = Reply(201, body=huge)

    with pytest.raises(TransmitterError, match="answered more than 262144 bytes"):
        streams.save_stream(source, EVENTS_URL)


def test_a_private_address_is_refused_unless_allowed(make_source, transmitter, settings, caplog):
    settings.LOGOUT_SSO = {"DELIVERY_ALLOW_PRIVATE_ADDRESSES": False}
    caplog.set_level(logging.INFO)

    with pytest.raises(TransmitterError, match="does not resolve to a public address"):
        streams.fetch_configuration(make_source(transmitter))
    assert transmitter.requests == []


def test_a_universal_logout_source_has_no_stream(make_source, transmitter):
    source = make_source(
        transmitter, kind=SignalKind.UNIVERSAL_LOGOUT, jwks_uri=f"{transmitter.url}/jwks"
    )

    with pytest.raises(TransmitterError, match="is a Universal Logout source: it has no stream"):
        streams.save_stream(source, EVENTS_URL)
