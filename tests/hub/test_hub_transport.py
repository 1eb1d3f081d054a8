"""How the hub's POSTs go out (logout_sso.hub.internal.transport, through the sender): only to
allowed addresses, never through a redirect or an environment proxy, within the timeouts, reading
no more of an answer than the admin is shown. Real threaded receivers on loopback; the sender
runs in this process (``send_due()``)."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from logout_sso.hub.internal import sender, transport
from logout_sso.hub.internal.outbox import record_logout
from logout_sso.models import Application, Delivery, Organization
from logout_sso.models.events import Initiator
from tests.hub_receivers import (
    IDP_ISSUER,
    Answer,
    hub_policy,
    messages_lost,
    register_application,
    track_session,
)
from tests.loopback import LoopbackServer, Reply
from tests.tls import Certificate, self_signed_certificate


@pytest.fixture
def acme(hub_settings: Any, db: None) -> Organization:
    return hub_policy(Organization.objects.create(slug="acme", name="Acme"))


def signed_in_at(acme: Organization, uri: str) -> Application:
    application, _ = register_application("wiki", acme, uri=uri)
    track_session(application, acme, "user-1")
    return application


def log_out_and_send(acme: Organization, monkeypatch: pytest.MonkeyPatch) -> Delivery:
    """user-1 logs out; the sweeper sends at once; the delivery after that attempt."""
    with messages_lost(monkeypatch):
        event = record_logout(
            initiator=Initiator.API, issuer=IDP_ISSUER, sub="user-1", organization=acme
        )
    sender.send_due()
    return Delivery.objects.get(event=event)


@pytest.fixture
def loopback_name() -> str:
    """This machine's name, when the system's resolver (/etc/hosts, DNS) maps it to loopback
    only: a DNS name that resolves to an address the hub must not reach."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    except OSError:
        pytest.skip(f"{name} does not resolve here")
    if addresses != {"127.0.0.1"}:
        pytest.skip(f"{name} resolves to {addresses} here, not to 127.0.0.1 only")
    return name


@pytest.mark.django_db(transaction=True)
def test_a_name_that_resolves_to_loopback_is_refused_without_a_request(
    acme, hub_settings, receivers, loopback_name, monkeypatch
):
    hub_settings.LOGOUT_SSO = {**hub_settings.LOGOUT_SSO, "DELIVERY_ALLOW_PRIVATE_ADDRESSES": False}
    receiver = receivers()  # On 127.0.0.1: what the name resolves to.
    signed_in_at(acme, receiver.url.replace("127.0.0.1", loopback_name))

    delivery = log_out_and_send(acme, monkeypatch)

    assert (delivery.state, delivery.attempts, delivery.last_status) == ("failed", 1, None)
    assert delivery.last_error == (
        f"{loopback_name} does not resolve to a public address "
        '(LOGOUT_SSO["DELIVERY_ALLOW_PRIVATE_ADDRESSES"] allows it).'
    )
    assert receiver.received == []


@pytest.mark.django_db(transaction=True)
def test_the_same_name_is_reached_when_private_addresses_are_allowed(
    acme, receivers, loopback_name, monkeypatch
):
    receiver = receivers()
    signed_in_at(acme, receiver.url.replace("127.0.0.1", loopback_name))

    delivery = log_out_and_send(acme, monkeypatch)

    assert (delivery.state, delivery.last_status) == ("delivered", 200), delivery.last_error
    [request] = receiver.received
    assert request.host == f"{loopback_name}:{receiver.port}"


@pytest.mark.django_db(transaction=True)
def test_a_redirect_is_a_refusal_and_is_not_followed(acme, receivers, monkeypatch):
    elsewhere = receivers()
    redirecting = receivers([Answer(status=307, headers=(("Location", elsewhere.url),))])
    signed_in_at(acme, redirecting.url)

    delivery = log_out_and_send(acme, monkeypatch)

    assert (delivery.state, delivery.last_status) == ("failed", 307)
    assert elsewhere.received == []


@pytest.mark.django_db(transaction=True)
def test_a_proxy_from_the_environment_is_not_used(acme, receivers, monkeypatch):
    proxy, receiver = receivers(), receivers()
    for variable in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(variable, f"http://127.0.0.1:{proxy.port}")
    signed_in_at(acme, receiver.url)

    delivery = log_out_and_send(acme, monkeypatch)

    assert delivery.state == "delivered"
    assert (len(receiver.received), len(proxy.received)) == (1, 0)


@pytest.mark.django_db(transaction=True)
def test_only_the_start_of_a_long_answer_is_kept(acme, receivers, monkeypatch):
    receiver = receivers([Answer(status=503, body="x" * 5_000_000)])
    signed_in_at(acme, receiver.url)

    delivery = log_out_and_send(acme, monkeypatch)

    assert (delivery.state, delivery.last_status) == ("pending", 503)
    assert delivery.last_error == "x" * 300


@pytest.mark.django_db(transaction=True)
def test_an_application_slower_than_the_read_timeout_is_retried(
    acme, hub_settings, receivers, monkeypatch
):
    hub_settings.LOGOUT_SSO = {**hub_settings.LOGOUT_SSO, "DELIVERY_READ_TIMEOUT": 0.3}
    receiver = receivers([Answer(delay=3.0), 200])
    signed_in_at(acme, receiver.url)

    delivery = log_out_and_send(acme, monkeypatch)

    assert (delivery.state, delivery.last_status) == ("pending", None)
    assert delivery.last_error == "No answer within 0.3 seconds (read timeout)."
    assert len(receiver.received) == 1


@pytest.mark.django_db(transaction=True)
def test_an_application_that_refuses_connections_is_retried_with_the_reason(
    acme, receivers, monkeypatch
):
    down = receivers(listening=False)
    signed_in_at(acme, down.url)

    delivery = log_out_and_send(acme, monkeypatch)

    assert (delivery.state, delivery.attempts) == ("pending", 1)
    assert "Connection refused" in delivery.last_error, delivery.last_error


@pytest.mark.django_db(transaction=True)
def test_no_more_than_the_delivery_concurrency_are_sent_at_once(
    acme, hub_settings, receivers, monkeypatch
):
    hub_settings.LOGOUT_SSO = {**hub_settings.LOGOUT_SSO, "DELIVERY_CONCURRENCY": 2}
    receiver = receivers([Answer(delay=0.3)])  # Five applications behind one endpoint.
    for number in range(5):
        application, _ = register_application(f"app-{number}", acme, uri=receiver.url)
        track_session(application, acme, "user-1")
    with messages_lost(monkeypatch):
        record_logout(initiator=Initiator.API, issuer=IDP_ISSUER, sub="user-1", organization=acme)

    assert sender.send_due() == 5

    busy = [(request.at, request.at + 0.3) for request in receiver.received]
    most_at_once = max(sum(start <= at < end for start, end in busy) for at, _ in busy)
    assert most_at_once == 2


@pytest.mark.django_db(transaction=True)
def test_a_batch_as_large_as_the_concurrency_is_recorded_with_its_last_answer(
    acme, hub_settings, receivers, monkeypatch
):
    # Every transfer in flight at once, all answered: nothing is left to wait for. It once
    # waited for nothing a second more (here a minute): 40% of fan-outs to 100 applications,
    # the default concurrency, took 1.06 s instead of 0.06 s.
    hub_settings.LOGOUT_SSO = {**hub_settings.LOGOUT_SSO, "DELIVERY_CONCURRENCY": 1}
    monkeypatch.setattr(transport, "IDLE_WAIT_SECONDS", 60.0)
    receiver = receivers()
    signed_in_at(acme, receiver.url)
    with messages_lost(monkeypatch):
        record_logout(initiator=Initiator.API, issuer=IDP_ISSUER, sub="user-1", organization=acme)
    sent: list[int] = []

    def sweep() -> None:
        try:
            sent.append(sender.send_due())
        finally:
            connection.close()

    sweeper = threading.Thread(target=sweep, daemon=True)
    sweeper.start()
    sweeper.join(timeout=20)

    assert sent == [1]
    assert len(receiver.received) == 1


@pytest.mark.django_db(transaction=True)
def test_a_hub_without_its_signing_key_keeps_the_delivery_and_says_why(
    acme, hub_settings, receivers, monkeypatch
):
    receiver = receivers()
    signed_in_at(acme, receiver.url)
    hub_settings.LOGOUT_SSO = {**hub_settings.LOGOUT_SSO, "HUB_SIGNING_KEY": None}

    delivery = log_out_and_send(acme, monkeypatch)

    assert (delivery.state, delivery.attempts) == ("pending", 1)
    assert 'LOGOUT_SSO["HUB_SIGNING_KEY"]' in delivery.last_error
    assert receiver.received == []


# --- HTTPS -----------------------------------------------------------------------------------


@pytest.fixture
def https_receiver(tmp_path: Path) -> Iterator[tuple[LoopbackServer, Certificate]]:
    """An application's HTTPS endpoint whose certificate a private authority signed (its own)."""
    certificate = self_signed_certificate(tmp_path)
    with LoopbackServer(lambda request: Reply(200), tls=certificate.server_context()) as server:
        yield server, certificate


@pytest.mark.django_db(transaction=True)
def test_a_certificate_the_hub_cannot_trust_fails_for_good_without_a_request(
    acme, https_receiver, monkeypatch
):
    server, _ = https_receiver
    signed_in_at(acme, f"{server.url}/bcl")

    delivery = log_out_and_send(acme, monkeypatch)

    assert (delivery.state, delivery.attempts, delivery.last_status) == ("failed", 1, None)
    # libcurl's words, e.g. "SSL certificate OpenSSL verify result: self-signed certificate (18)"
    assert re.match(r"SSL certificate .*self.signed certificate", delivery.last_error)
    assert server.requests == {}


@pytest.mark.django_db(transaction=True)
def test_a_private_authority_in_the_ca_bundle_setting_is_trusted(
    acme, hub_settings, https_receiver, monkeypatch
):
    server, certificate = https_receiver
    hub_settings.LOGOUT_SSO = {
        **hub_settings.LOGOUT_SSO,
        "DELIVERY_CA_BUNDLE": certificate.path,
    }
    signed_in_at(acme, f"{server.url}/bcl")

    delivery = log_out_and_send(acme, monkeypatch)

    assert (delivery.state, delivery.last_status) == ("delivered", 200)
    assert server.requests == {"/bcl": 1}
