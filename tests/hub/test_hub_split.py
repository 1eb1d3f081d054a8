"""A large fan-out shared among several worker processes (DELIVERY_TASKS_PER_EVENT)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from unittest.mock import patch

import jwt
import pytest
from django.db import connection, transaction
from django.utils import timezone

from logout_sso import tasks
from logout_sso.hub.internal import sender
from logout_sso.hub.internal.outbox import record_logout
from logout_sso.models import Delivery, LogoutEvent, TrackedSession
from logout_sso.models.events import DeliveryState, Initiator
from tests.hub_receivers import Receiver
from tests.services import at_once


@pytest.fixture
def receiver(receivers: Callable[..., Receiver]) -> Receiver:
    """The one back-channel endpoint every application of these tests shares."""
    return receivers()


@pytest.fixture
def event_to(make_organization, make_application, receiver, django_capture_on_commit_callbacks):
    """A logout of alice from ``applications`` applications of acme, all sending to the one
    receiver; its "go" messages are kept, not sent (``queued``: event id and claim each)."""
    acme = make_organization("acme")
    queued: list[tuple[int, str]] = []

    def make(applications: int) -> LogoutEvent:
        for number in range(applications):
            application = make_application(
                f"app{len(queued)}-{number}", acme, backchannel_logout_uri=receiver.url
            )
            TrackedSession.objects.create(
                application=application,
                organization=acme,
                issuer="https://idp/",
                sub="alice",
                session_id=f"{application.pk}",
            )
        with (
            patch.object(tasks.deliver_event, "delay", lambda *message: queued.append(message)),
            django_capture_on_commit_callbacks(execute=True),
        ):
            return record_logout(
                initiator=Initiator.API, issuer="https://idp/", sub="alice", organization=acme
            )

    make.queued = queued  # type: ignore[attr-defined]
    return make


def audiences(receiver: Receiver) -> list[str]:
    """The client id each logout token the receiver got was addressed to."""
    return [
        jwt.decode(token, options={"verify_signature": False})["aud"] for token in receiver.tokens
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("setting", "applications", "shares"),
    [(1, 100, 1), (2, 100, 2), (2, 39, 1), (2, 40, 2), (4, 60, 3), (4, 500, 4)],
)
def test_a_fan_out_is_split_only_when_large_enough(
    settings, event_to, setting, applications, shares
):
    settings.LOGOUT_SSO = {"DELIVERY_TASKS_PER_EVENT": setting}

    event = event_to(applications)

    claims = [claim for _, claim in event_to.queued]
    assert len(claims) == len(set(claims)) == shares
    held = Counter(event.deliveries.values_list("claim", flat=True))
    assert set(held) == set(claims)
    assert max(held.values()) - min(held.values()) <= 1


@pytest.mark.django_db
def test_each_share_sends_its_part_and_together_they_send_each_once(
    hub_settings, event_to, receiver
):
    hub_settings.LOGOUT_SSO = {**hub_settings.LOGOUT_SSO, "DELIVERY_TASKS_PER_EVENT": 2}
    event = event_to(45)

    delivered = [sender.deliver_event(event.pk, claim).delivered for _, claim in event_to.queued]

    assert delivered == [23, 22]
    assert sorted(audiences(receiver)) == sorted(
        event.deliveries.values_list("application__client_id", flat=True)
    )
    assert not event.deliveries.exclude(state=DeliveryState.DELIVERED).exists()


@pytest.mark.django_db(transaction=True)
def test_shares_running_at_once_send_every_delivery_once(hub_settings, event_to, receiver):
    hub_settings.LOGOUT_SSO = {**hub_settings.LOGOUT_SSO, "DELIVERY_TASKS_PER_EVENT": 2}
    event = event_to(40)
    claims = iter(claim for _, claim in event_to.queued)
    lock = threading.Lock()

    def one_share() -> int:
        with lock:
            claim = next(claims)
        return sender.deliver_event(event.pk, claim).delivered

    delivered = at_once(one_share)

    assert sorted(delivered) == [20, 20]
    assert len(receiver.received) == 40
    assert not event.deliveries.exclude(state=DeliveryState.DELIVERED).exists()


@pytest.mark.django_db
def test_a_fan_out_larger_than_a_batch_is_sent_batch_after_batch(hub_settings, event_to, receiver):
    hub_settings.LOGOUT_SSO = {**hub_settings.LOGOUT_SSO, "DELIVERY_CONCURRENCY": 10}
    event = event_to(25)
    [(_, claim)] = event_to.queued

    assert sender.deliver_event(event.pk, claim).delivered == 25
    assert len(receiver.received) == 25


@pytest.mark.django_db(transaction=True)
def test_a_sweeper_takes_the_deliveries_another_is_claiming_at_that_moment_no_more(
    hub_settings, event_to, receiver
):
    if not connection.features.has_select_for_update_skip_locked:
        pytest.skip("SQLite runs one writing statement at a time: no claim is ever half done")
    event = event_to(40)
    event.deliveries.update(next_attempt_at=timezone.now())  # The fan-out's message was lost.
    first_half = list(
        event.deliveries.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:20]
    )
    claiming, done = threading.Event(), threading.Event()

    def other_sweeper_claiming() -> None:
        """Hold the first half's rows as a claim in progress does, until the test is done."""
        try:
            with transaction.atomic():
                list(Delivery.objects.select_for_update().filter(pk__in=first_half))
                claiming.set()
                done.wait(timeout=30)
        finally:
            connection.close()

    other = threading.Thread(target=other_sweeper_claiming)
    other.start()
    try:
        assert claiming.wait(timeout=10)
        assert sender.send_due() == 20
    finally:
        done.set()
        other.join(timeout=30)

    pending = set(event.deliveries.filter(state=DeliveryState.PENDING).values_list("pk", flat=True))
    assert pending == set(first_half)
    assert len(receiver.received) == 20
