"""Fan-out: a logout reported to the hub reaches every application, through a real Celery worker
process on Redis, over HTTP, to real threaded receivers on loopback.

The worker is ``hub_worker``: a real ``celery worker`` process like the ``celery_worker`` of
tests/services.py, but started with the hub's settings (its signing key, issuer, loopback
receivers allowed), which a worker process cannot take from this process's ``settings``
fixture, and publishing its own retries to the queue it listens on.

Retries use the organization's policy with one-second delays so that the tests finish fast.
The sweeper and the address checks run in this process (``send_due()``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django.utils import timezone
from jwt.algorithms import RSAAlgorithm

from logout_sso import tasks
from logout_sso.hub.internal import claims as claiming
from logout_sso.hub.internal import outgoing, sender
from logout_sso.hub.internal.outbox import record_logout
from logout_sso.hub.internal.outgoing import Outgoing
from logout_sso.models import (
    Application,
    Delivery,
    LocalSession,
    LogoutEvent,
    LogoutPolicy,
    Organization,
)
from logout_sso.models.events import Initiator
from logout_sso.signals import delivery_failed
from tests.hub_receivers import (
    BACKCHANNEL_LOGOUT_EVENT,
    IDP_ISSUER,
    Answer,
    JsonServer,
    Receiver,
    claims_run_out,
    decode_with_joserfc,
    hub_jwks_document,
    hub_policy,
    messages_lost,
    register_application,
    slow,
    too_many_requests,
    track_session,
    validate_as_receiver,
)
from tests.loopback import IncomingRequest, LoopbackServer, Reply
from tests.services import at_once, wait_for

SETTLE_SECONDS = 30


@dataclass
class Hub:
    """The hub as an operator set it up: organization ``acme`` on the logout service, the
    ``portal`` application that reports logouts, and applications holding sessions of
    ``user-1``."""

    acme: Organization
    portal_credential: str

    def application(self, name: str, receiver: Receiver | str) -> Application:
        """An application of acme, with a live session of user-1, receiving at ``receiver``."""
        uri = receiver if isinstance(receiver, str) else receiver.url
        application, _ = register_application(name, self.acme, uri=uri)
        track_session(application, self.acme, "user-1", sid="sid-1")
        return application

    def report_logout(self, sub: str = "user-1") -> int:
        """``portal`` reports that the user logged out; the event's id."""
        response = Client().post(
            "/sso/api/logouts/",
            {"sub": sub, "organization": "acme"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {self.portal_credential}",
        )
        assert response.status_code == 202, response.content
        event_id: int = response.json()["event"]
        return event_id

    def read_event(self, event_id: int) -> dict[str, Any]:
        """The event as ``portal`` reads it from the API."""
        response = Client().get(
            f"/sso/api/logouts/{event_id}/",
            HTTP_AUTHORIZATION=f"Bearer {self.portal_credential}",
        )
        assert response.status_code == 200, response.content
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def hub(hub_settings: Any, db: None) -> Hub:
    acme = hub_policy(Organization.objects.create(slug="acme", name="Acme"))
    _portal, credential = register_application("portal", acme)
    return Hub(acme=acme, portal_credential=credential)


def settled(event_id: int, timeout: float = SETTLE_SECONDS) -> LogoutEvent:
    """The event once every delivery is delivered or failed for good."""

    def completed() -> LogoutEvent | None:
        event = LogoutEvent.objects.get(pk=event_id)
        return event if event.completed_at is not None else None

    event: LogoutEvent = wait_for(completed, timeout, f"logout event {event_id} did not settle")
    return event


def delivery_to(application: Application) -> Delivery:
    return Delivery.objects.get(application=application)


def record_user_logout(organization: Organization) -> LogoutEvent:
    return record_logout(
        initiator=Initiator.ADMIN, issuer=IDP_ISSUER, sub="user-1", organization=organization
    )


# --- Fan-out through the worker --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_one_logout_reaches_every_application_at_once(hub, hub_worker, receivers):
    fast, lazy, quick = receivers([200]), receivers([slow(0.5)]), receivers([200])
    for name, receiver in (("wiki", fast), ("billing", lazy), ("crm", quick)):
        hub.application(name, receiver)

    event = settled(hub.report_logout())

    assert event.outcome == "completed"
    assert [(d.state, d.attempts, d.last_status) for d in Delivery.objects.all()] == [
        ("delivered", 1, 200)
    ] * 3
    arrivals = [receiver.received[0].at for receiver in (fast, lazy, quick)]
    assert max(arrivals) - min(arrivals) < 0.4, "the slow application delayed the others"
    assert [len(receiver.received) for receiver in (fast, lazy, quick)] == [1, 1, 1]


@pytest.mark.django_db(transaction=True)
def test_each_application_gets_one_valid_token_for_its_client_id(
    hub, hub_worker, receivers, hub_jwks
):
    by_application = {
        hub.application(name, receiver): receiver
        for name, receiver in (("wiki", receivers()), ("billing", receivers()))
    }

    settled(hub.report_logout())

    jwks = hub_jwks_document()[1]
    for application, receiver in by_application.items():
        [request] = receiver.received
        assert request.content_type == "application/x-www-form-urlencoded"
        token = request.logout_token
        accepted = validate_as_receiver(
            token, audience=application.client_id, jwks_uri=hub_jwks.url
        )
        assert (accepted.issuer, accepted.sub) == (IDP_ISSUER, "user-1")
        decoded = decode_with_joserfc(token, jwks, audience=application.client_id)
        assert decoded.header["typ"] == "logout+jwt"
        assert "nonce" not in decoded.claims


@pytest.mark.django_db(transaction=True)
def test_fast_applications_latency_is_their_own(hub, hub_worker, receivers):
    fast = hub.application("wiki", receivers([200]))
    lazy = hub.application("billing", receivers([slow(0.6)]))

    settled(hub.report_logout())

    fast_latency = delivery_to(fast).latency_ms
    slow_latency = delivery_to(lazy).latency_ms
    assert fast_latency is not None
    assert slow_latency is not None
    assert slow_latency >= 600
    assert fast_latency < slow_latency - 300


@pytest.mark.django_db(transaction=True)
def test_server_error_then_success_is_delivered_on_the_second_attempt(
    hub, hub_worker, receivers, hub_jwks
):
    receiver = receivers([500, 200])
    application = hub.application("wiki", receiver)

    event = settled(hub.report_logout())

    delivery = delivery_to(application)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 2, 200)
    assert event.outcome == "completed"
    assert [request.status for request in receiver.received] == [500, 200]
    accepted = [
        validate_as_receiver(token, audience="wiki-client", jwks_uri=hub_jwks.url)
        for token in receiver.tokens
    ]
    assert accepted[0].token_id != accepted[1].token_id, "each attempt signs a fresh token"


@pytest.mark.django_db(transaction=True)
def test_too_many_requests_is_retried_after_retry_after(hub, hub_worker, receivers):
    # A backoff of 10 s would retry after 5 to 10 s: a retry after about 1 s is Retry-After's.
    hub_policy(hub.acme, delivery_backoff_seconds=10, delivery_backoff_max_seconds=10)
    receiver = receivers([too_many_requests("1"), 200])
    application = hub.application("wiki", receiver)

    settled(hub.report_logout())

    delivery = delivery_to(application)
    assert (delivery.state, delivery.attempts) == ("delivered", 2)
    first, second = receiver.received
    assert 0.9 <= second.at - first.at < 4


@pytest.mark.parametrize(
    ("others", "outcome"), [([], "failed"), ([200], "partial")], ids=["alone", "with-another"]
)
@pytest.mark.django_db(transaction=True)
def test_rejected_token_fails_at_once(hub, hub_worker, receivers, others, outcome):
    rejecting = receivers([Answer(status=400, body='{"error": "invalid_request"}')])
    application = hub.application("wiki", rejecting)
    for index, status in enumerate(others):
        hub.application(f"other-{index}", receivers([status]))

    event = settled(hub.report_logout())

    delivery = delivery_to(application)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("failed", 1, 400)
    assert '{"error": "invalid_request"}' in delivery.last_error
    assert delivery.next_attempt_at is None
    assert len(rejecting.received) == 1
    assert event.outcome == outcome
    assert event.completed_at is not None
    assert event.completed_at >= event.created_at


@pytest.mark.django_db(transaction=True)
def test_application_down_then_up_is_delivered(hub, hub_worker, receivers):
    receiver = receivers(listening=False)
    application = hub.application("wiki", receiver)

    event_id = hub.report_logout()
    receiver.start_after(1.5)
    event = settled(event_id)

    delivery = delivery_to(application)
    assert delivery.state == "delivered"
    assert delivery.attempts >= 2
    assert len(receiver.received) == 1
    assert receiver.started_at is not None
    assert receiver.received[0].at >= receiver.started_at
    assert event.outcome == "completed"


@pytest.mark.django_db(transaction=True)
def test_application_disabled_before_delivery_fails_without_a_request(
    hub, hub_worker, receivers, monkeypatch
):
    receiver = receivers()
    application = hub.application("wiki", receiver)
    with messages_lost(monkeypatch):
        event_id = hub.report_logout()
    Application.objects.filter(pk=application.pk).update(enabled=False)

    tasks.deliver_event.delay(event_id)
    event = settled(event_id)

    delivery = delivery_to(application)
    assert (delivery.state, delivery.attempts) == ("failed", 1)
    assert "disabled" in delivery.last_error
    assert event.outcome == "failed"
    assert receiver.received == []


@pytest.mark.django_db(transaction=True)
def test_event_read_from_the_api_shows_the_outcome(hub, hub_worker, receivers):
    hub.application("wiki", receivers([200]))
    hub.application("billing", receivers([Answer(status=400, body="unknown client")]))

    event_id = hub.report_logout()
    settled(event_id)
    body = hub.read_event(event_id)

    assert body["outcome"] == "partial"
    assert body["completed_at"] is not None
    assert [
        (d["application"], d["state"], d["attempts"], d["last_status"]) for d in body["deliveries"]
    ] == [("billing", "failed", 1, 400), ("wiki", "delivered", 1, 200)]
    # Another application's error is its own business: the reporter sees states, not words.
    assert body["deliveries"][0]["last_error"] is None
    assert body["deliveries"][1]["latency_ms"] >= 0
    assert Delivery.objects.get(application__name="billing").last_error == "unknown client"


# --- Logouts the hub hears from the IdP ------------------------------------------------------


@pytest.fixture
def idp(hub_settings: Any, hub_rsa_pem: str) -> Iterator[Callable[..., str]]:
    """The IdP, trusted by the hub for back-channel logout: a function that signs its logout
    tokens."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "idp-1", "use": "sig"}
    server = JsonServer(lambda: (200, {"keys": [jwk]}))
    trusted = {"issuer": IDP_ISSUER, "jwks_uri": server.url, "audience": "hub-client"}
    hub_settings.LOGOUT_SSO = {**hub_settings.LOGOUT_SSO, "TRUSTED_ISSUERS": [trusted]}
    caches["default"].clear()

    def sign(**claims: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": IDP_ISSUER,
            "aud": "hub-client",
            "iat": now,
            "exp": now + 120,
            "jti": uuid.uuid4().hex,
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
            **claims,
        }
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "idp-1"})

    yield sign
    server.close()
    caches["default"].clear()


def idp_backchannel_logout(token: str) -> int:
    response = Client().post(
        "/sso/backchannel-logout/",
        urlencode({"logout_token": token}),
        content_type="application/x-www-form-urlencoded",
    )
    return response.status_code


@pytest.mark.django_db(transaction=True)
def test_idp_logout_of_a_user_signed_in_at_the_hub_too_reaches_the_applications(
    hub, idp, monkeypatch
):
    wiki = hub.application("wiki", "https://wiki.example.com/bcl")
    LocalSession.objects.create(
        session_key="hub-session",
        issuer=IDP_ISSUER,
        sub="user-1",
        sid="sid-1",
        organization=hub.acme,
    )

    with messages_lost(monkeypatch):
        assert idp_backchannel_logout(idp(sub="user-1", sid="sid-1")) == 200

    assert [delivery.application for delivery in Delivery.objects.all()] == [wiki]


@pytest.mark.django_db(transaction=True)
def test_idp_logout_of_a_user_signed_in_only_in_applications_reaches_them(hub, idp, monkeypatch):
    wiki = hub.application("wiki", "https://wiki.example.com/bcl")

    with messages_lost(monkeypatch):
        assert idp_backchannel_logout(idp(sub="user-1", sid="sid-1")) == 200

    assert [delivery.application for delivery in Delivery.objects.all()] == [wiki]


# --- The sweeper (in this process) -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sweeper_sends_a_delivery_whose_message_was_lost(hub, receivers, monkeypatch):
    receiver = receivers()
    application = hub.application("wiki", receiver)
    with messages_lost(monkeypatch):
        event = record_user_logout(hub.acme)
    assert delivery_to(application).state == "pending"

    delivered = sender.send_due()

    assert delivered == 1
    assert len(receiver.received) == 1
    assert delivery_to(application).state == "delivered"
    event.refresh_from_db()
    assert event.outcome == "completed"


@pytest.mark.django_db(transaction=True)
def test_sweeper_leaves_deliveries_not_yet_due(hub, receivers, monkeypatch):
    receiver = receivers()
    application = hub.application("wiki", receiver)
    with messages_lost(monkeypatch):
        record_user_logout(hub.acme)
    Delivery.objects.update(next_attempt_at=timezone.now() + timedelta(minutes=5))

    assert sender.send_due() == 0
    assert receiver.received == []
    assert delivery_to(application).state == "pending"


@pytest.mark.django_db(transaction=True)
def test_two_sweepers_at_once_deliver_once(hub, receivers, monkeypatch):
    receiver = receivers([slow(0.3)])
    application = hub.application("wiki", receiver)
    with messages_lost(monkeypatch):
        record_user_logout(hub.acme)
    results = at_once(sender.send_due)

    assert sorted(results) == [0, 1]
    assert len(receiver.received) == 1
    delivery = delivery_to(application)
    assert (delivery.state, delivery.attempts) == ("delivered", 1)


@pytest.mark.django_db(transaction=True)
def test_sweeper_leaves_a_lost_messages_deliveries_until_its_claim_runs_out(
    hub, receivers, monkeypatch
):
    receiver = receivers()
    application = hub.application("wiki", receiver)
    with messages_lost(monkeypatch, run_out=False) as claims:
        record_user_logout(hub.acme)

    assert sender.send_due() == 0  # The task that was to send it may still be on its way.
    claims_run_out(claims)
    assert sender.send_due() == 1
    assert len(receiver.received) == 1
    assert delivery_to(application).state == "delivered"


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_message_sends_nothing_twice(hub, receivers, monkeypatch):
    receiver = receivers()
    hub.application("wiki", receiver)
    with messages_lost(monkeypatch, run_out=False) as claims:
        event = record_user_logout(hub.acme)

    assert sender.deliver_event(event.pk, claims[0]).delivered == 1
    assert sender.deliver_event(event.pk, claims[0]).delivered == 0
    assert len(receiver.received) == 1


@pytest.mark.django_db(transaction=True)
def test_a_message_that_comes_late_claims_its_deliveries_again_before_sending(
    hub, receivers, monkeypatch
):
    receiver = receivers()
    application = hub.application("wiki", receiver)
    with messages_lost(monkeypatch, run_out=False) as claims:
        event = record_user_logout(hub.acme)
    # Less of the lease is left than an attempt may take: the sweeper could take it mid-send.
    Delivery.objects.update(next_attempt_at=timezone.now() + timedelta(seconds=1))

    [delivery] = claiming.take_held(event.deliveries.filter(claim=claims[0]), 100)
    assert delivery.claim != claims[0]
    lease = timedelta(seconds=claiming.attempt_seconds())
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at > timezone.now() + lease
    assert sender.send([delivery]).delivered == 1
    assert len(receiver.received) == 1
    assert delivery_to(application).state == "delivered"


@pytest.mark.django_db(transaction=True)
def test_a_late_message_and_its_copy_at_once_send_each_delivery_once(hub, receivers, monkeypatch):
    receiver = receivers()
    for number in range(10):
        hub.application(f"app-{number}", receiver)
    with messages_lost(monkeypatch, run_out=False) as claims:
        event = record_user_logout(hub.acme)
    # Less of the lease is left than an attempt may take: each copy renews its batch first.
    Delivery.objects.update(next_attempt_at=timezone.now() + timedelta(seconds=1))

    delivered = at_once(lambda: sender.deliver_event(event.pk, claims[0]).delivered)

    assert sorted(delivered) == [0, 10]
    assert len(receiver.received) == 10


@pytest.mark.django_db(transaction=True)
def test_a_late_message_sends_only_what_the_sweeper_did_not_take_meanwhile(
    hub, receivers, monkeypatch
):
    receiver = receivers()
    for number in range(10):
        hub.application(f"app-{number}", receiver)
    with messages_lost(monkeypatch) as claims:  # Their lease ran out.
        event = record_user_logout(hub.acme)
    taken: list[Outgoing] = []
    read = outgoing.read

    def read_then_the_sweeper_takes_four(*arguments: Any) -> list[Outgoing]:
        """The task has read its batch; before it claims it again, the sweeper takes four."""
        monkeypatch.setattr(outgoing, "read", read)  # Once.
        batch = read(*arguments)
        taken.extend(claiming.claim(Delivery.objects.filter(claiming.due()), 4))
        return batch

    monkeypatch.setattr(outgoing, "read", read_then_the_sweeper_takes_four)
    assert sender.deliver_event(event.pk, claims[0]).delivered == 6
    assert sender.send(taken).delivered == 4
    assert len(receiver.received) == 10
    assert not event.deliveries.exclude(state="delivered").exists()


@pytest.mark.django_db(transaction=True)
def test_a_message_that_comes_after_the_sweeper_took_its_deliveries_sends_nothing(
    hub, receivers, monkeypatch
):
    receiver = receivers()
    hub.application("wiki", receiver)
    with messages_lost(monkeypatch) as claims:  # Its lease ran out: the sweeper sends it.
        event = record_user_logout(hub.acme)
    assert sender.send_due() == 1

    assert sender.deliver_event(event.pk, claims[0]).delivered == 0
    assert len(receiver.received) == 1


@pytest.mark.django_db(transaction=True)
def test_a_delivery_that_fails_for_good_is_logged_and_signalled(
    hub, receivers, monkeypatch, caplog, captured_signals
):
    billing = hub.application("billing", receivers([Answer(status=400, body="unknown client")]))
    hub.application("wiki", receivers([Answer(status=503)]))  # Retried later: not a failure.

    with messages_lost(monkeypatch):
        event = record_user_logout(hub.acme)
    [failures] = captured_signals(delivery_failed)
    with caplog.at_level("WARNING", logger="logout_sso.hub.internal.sender"):
        assert sender.send_due() == 0

    [details] = failures
    assert (details["sender"], details["delivery"].application) == (Delivery, billing)
    assert (details["attempts"], details["last_status"], details["last_error"]) == (
        1,
        400,
        "unknown client",
    )
    assert caplog.messages == [
        f"Back-channel logout to billing (event {event.pk}) failed for good after 1 attempt(s): "
        "unknown client"
    ]


@pytest.mark.django_db(transaction=True)
def test_a_failure_of_a_logout_deleted_meanwhile_is_logged_without_a_signal(
    hub, monkeypatch, caplog, captured_signals
):
    def refuse_after_the_event_is_deleted(request: IncomingRequest) -> Reply:
        try:  # An admin deletes the logout event while its delivery is in flight.
            LogoutEvent.objects.all().delete()
        finally:
            connection.close()
        return Reply(400, body=b"unknown client")

    with LoopbackServer(refuse_after_the_event_is_deleted) as server:
        hub.application("billing", f"{server.url}/bcl")
        with messages_lost(monkeypatch):
            record_user_logout(hub.acme)
        [failures] = captured_signals(delivery_failed)
        with caplog.at_level("WARNING", logger="logout_sso.hub.internal.sender"):
            assert sender.send_due() == 0

    assert failures == []
    assert [message.split(" (event")[0] for message in caplog.messages] == [
        "Back-channel logout to billing"
    ]


# --- Applications that require a sid ------------------------------------------------------


def sids_received(receiver: Receiver, jwks_uri: str, audience: str) -> list[tuple[str, str]]:
    """(sub, sid) of each logout token the receiver got, as logout_sso's receiver reads it."""
    named = []
    for token in receiver.tokens:
        accepted = validate_as_receiver(token, audience=audience, jwks_uri=jwks_uri)
        named.append((accepted.sub, accepted.sid))
    return sorted(named)


def signed_in_on_two_devices(
    hub: Hub, name: str, receiver: Receiver, *, requires_sid: bool
) -> Application:
    """An application where user-1 has two sessions: sid-laptop and sid-phone."""
    application, _ = register_application(
        name, hub.acme, uri=receiver.url, backchannel_logout_session_required=requires_sid
    )
    for sid in ("sid-laptop", "sid-phone"):
        track_session(application, hub.acme, "user-1", sid=sid)
    return application


@pytest.mark.django_db(transaction=True)
def test_an_application_requiring_a_sid_gets_one_token_per_session_of_the_subject(
    hub, receivers, hub_jwks, monkeypatch
):
    receiver = receivers()
    crm = signed_in_on_two_devices(hub, "crm", receiver, requires_sid=True)
    with messages_lost(monkeypatch):
        event = record_user_logout(hub.acme)  # Names the subject only.

    assert sender.send_due() == 2

    assert sids_received(receiver, hub_jwks.url, crm.client_id) == [
        ("user-1", "sid-laptop"),
        ("user-1", "sid-phone"),
    ]
    assert sorted(event.deliveries.values_list("sid", "state")) == [
        ("sid-laptop", "delivered"),
        ("sid-phone", "delivered"),
    ]


@pytest.mark.django_db(transaction=True)
def test_an_application_not_requiring_a_sid_gets_one_token_for_the_subject(
    hub, receivers, hub_jwks, monkeypatch
):
    receiver = receivers()
    wiki = signed_in_on_two_devices(hub, "wiki", receiver, requires_sid=False)
    with messages_lost(monkeypatch):
        record_user_logout(hub.acme)

    assert sender.send_due() == 1

    assert sids_received(receiver, hub_jwks.url, wiki.client_id) == [("user-1", "")]


@pytest.mark.django_db(transaction=True)
def test_a_logout_of_one_sid_sends_that_sid_only(hub, receivers, hub_jwks, monkeypatch):
    receiver = receivers()
    crm = signed_in_on_two_devices(hub, "crm", receiver, requires_sid=True)
    with messages_lost(monkeypatch):
        record_logout(
            initiator=Initiator.API,
            issuer=IDP_ISSUER,
            sub="user-1",
            sid="sid-phone",
            organization=hub.acme,
        )

    assert sender.send_due() == 1

    assert sids_received(receiver, hub_jwks.url, crm.client_id) == [("user-1", "sid-phone")]


# --- What an application says, in the admin and the logs -------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_applications_answer_cannot_forge_a_log_line(hub, receivers, monkeypatch, caplog):
    forged = "oops\n2026-01-01 00:00:00 CRITICAL forged\x1b[2J\u202e"
    application = hub.application("wiki", receivers([Answer(status=400, body=forged)]))
    with messages_lost(monkeypatch):
        record_user_logout(hub.acme)

    with caplog.at_level("WARNING", logger="logout_sso.hub.internal.sender"):
        sender.send_due()

    stored = delivery_to(application).last_error
    assert stored == "oops\\n2026-01-01 00:00:00 CRITICAL forged\\x1b[2J\\u202e"
    assert stored in caplog.text
    assert "\n2026-01-01" not in caplog.text
    assert "\x1b" not in caplog.text


# --- Where the hub may send (SSRF) -----------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "169.254.169.254"],
    ids=["loopback-address", "localhost", "cloud-metadata"],
)
@pytest.mark.django_db(transaction=True)
def test_private_destination_fails_for_good_without_a_request(
    hub, hub_settings, receivers, monkeypatch, host
):
    hub_settings.LOGOUT_SSO = {
        **hub_settings.LOGOUT_SSO,
        "DELIVERY_ALLOW_PRIVATE_ADDRESSES": False,
    }
    receiver = receivers()
    uri = receiver.url.replace("127.0.0.1", host)
    application = hub.application("wiki", uri)
    with messages_lost(monkeypatch):
        event = record_user_logout(hub.acme)

    assert sender.send_due() == 0

    delivery = delivery_to(application)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("failed", 1, None)
    # What the name resolved to is not told (an organization admin reads it).
    assert delivery.last_error == (
        f"{host} does not resolve to a public address "
        '(LOGOUT_SSO["DELIVERY_ALLOW_PRIVATE_ADDRESSES"] allows it).'
    )
    assert receiver.received == []
    event.refresh_from_db()
    assert event.outcome == "failed"


@pytest.mark.django_db(transaction=True)
def test_private_destination_is_allowed_by_the_setting(hub, receivers, monkeypatch):
    receiver = receivers()
    hub.application("wiki", receiver.url.replace("127.0.0.1", "localhost"))
    with messages_lost(monkeypatch):
        record_user_logout(hub.acme)

    assert sender.send_due() == 1
    assert len(receiver.received) == 1


@pytest.mark.django_db(transaction=True)
def test_absurd_retry_after_delays_one_application_only(hub, receivers, monkeypatch):
    limited = hub.application("analytics", receivers([too_many_requests("99999999999999")]))
    billing = hub.application("billing", receivers([200]))
    with messages_lost(monkeypatch):
        record_user_logout(hub.acme)

    assert sender.send_due() == 1

    assert delivery_to(billing).state == "delivered"
    delivery = delivery_to(limited)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("pending", 1, 429)
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at <= timezone.now() + timedelta(days=1)


@pytest.mark.django_db(transaction=True)
def test_name_that_does_not_resolve_is_retried_later(hub, monkeypatch, settings):
    settings.LOGOUT_SSO = {**settings.LOGOUT_SSO, "DELIVERY_ALLOW_PRIVATE_ADDRESSES": False}
    application = hub.application("wiki", "https://logout.does-not-resolve.invalid/bcl")
    with messages_lost(monkeypatch):
        record_user_logout(hub.acme)

    assert sender.send_due() == 0

    delivery = delivery_to(application)
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    assert delivery.last_error == "Could not resolve host: logout.does-not-resolve.invalid"
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at > timezone.now()


# --- Retry timing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [(1, 1, 2), (2, 2, 4), (3, 4, 8), (8, 128, 256), (9, 150, 300), (40, 150, 300)],
)
def test_backoff_doubles_with_jitter_up_to_the_ceiling(attempts, low, high):
    policy = LogoutPolicy(delivery_backoff_seconds=2, delivery_backoff_max_seconds=300)

    delays = [sender.backoff_seconds(policy, attempts) for _ in range(200)]

    assert all(low <= delay <= high for delay in delays)
    assert len(set(delays)) > 1, "no jitter"


def test_backoff_without_a_policy_uses_the_defaults():
    delays = [sender.backoff_seconds(None, 1) for _ in range(50)]

    assert all(1 <= delay <= 2 for delay in delays)


def response_with_retry_after(value: str | None) -> str | None:
    """The Retry-After header value as the sender reads it off a response."""
    return value


def test_retry_after_in_seconds_is_read():
    assert sender.retry_after(response_with_retry_after("120")) == 120.0


def test_retry_after_as_an_http_date_is_read():
    when = timezone.now() + timedelta(seconds=30)

    seconds = sender.retry_after(response_with_retry_after(format_datetime(when, usegmt=True)))

    assert seconds is not None
    assert 28 <= seconds <= 30


@pytest.mark.parametrize("value", ["99999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_retry_after_is_capped_at_a_day(value):
    assert sender.retry_after(response_with_retry_after(value)) == 24 * 60 * 60


def test_retry_after_in_the_past_means_now():
    when = timezone.now() - timedelta(minutes=5)

    assert sender.retry_after(response_with_retry_after(format_datetime(when, usegmt=True))) == 0


@pytest.mark.parametrize("value", [None, "", "soon", "1.5"])
def test_retry_after_that_cannot_be_read_is_ignored(value):
    assert sender.retry_after(response_with_retry_after(value)) is None
