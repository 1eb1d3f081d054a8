"""A large fan-out shared among several worker processes (DELIVERY_TASKS_PER_EVENT)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import jwt
import pytest
from django.db import connection, transaction
from django.utils import timezone

from logout_sso import tasks
from logout_sso.hub import sender
from logout_sso.models import Delivery, LogoutEvent
from logout_sso.models.events import DeliveryState, Initiator
from tests import hub_receivers
from tests.hub_receivers import Receiver
from tests.services import at_once

hub_settings = hub_receivers.hub_settings
hub_rsa_pem = hub_receivers.hub_rsa_pem
receivers = hub_receivers.receivers


@pytest.fixture
def receiver(receivers: Callable[..., Receiver]) -> Receiver:
    """The one back-channel endpoint every application of these tests shares."""
    return receivers()


@pytest.fixture
def event_to(make_organization, make_application, receiver):
    acme = make_organization("acme")

    def make(applications: int) -> LogoutEvent:
        event = LogoutEvent.objects.create(
            initiator=Initiator.API, issuer="https://idp/", sub="alice", organization=acme
        )
        for number in range(applications):
            Delivery.objects.create(
                event=event,
                application=make_application(
                    f"app{event.pk}-{number}", acme, backchannel_logout_uri=receiver.url
                ),
                next_attempt_at=timezone.now(),
            )
        return event

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

    assert sender.shares_for(event_to(applications).pk) == shares


@pytest.mark.django_db
def test_each_share_sends_its_part_and_together_they_send_each_once(
    hub_settings, event_to, receiver
):
    event = event_to(45)

    first = sender.deliver_event(event.pk, share=2)
    second = sender.deliver_event(event.pk, share=2)

    assert (first, second) == (23, 22)
    assert sorted(audiences(receiver)) == sorted(
        event.deliveries.values_list("application__client_id", flat=True)
    )
    assert not event.deliveries.exclude(state=DeliveryState.DELIVERED).exists()


@pytest.mark.django_db
def test_the_task_queues_the_other_shares_before_sending_its_own(
    hub_settings, event_to, receiver, monkeypatch
):
    hub_settings.LOGOUT_SSO = {**hub_settings.LOGOUT_SSO, "DELIVERY_TASKS_PER_EVENT": 2}
    queued: list[tuple[tuple[int], dict[str, int]]] = []
    monkeypatch.setattr(
        tasks.deliver_event,
        "apply_async",
        lambda args, kwargs=None, **o: queued.append((args, kwargs)),
    )
    event = event_to(60)

    tasks.deliver_event(event.pk)

    assert queued == [((event.pk,), {"share": 2})]
    assert len(receiver.received) == 30


@pytest.mark.django_db(transaction=True)
def test_shares_running_at_once_send_every_delivery_once(hub_settings, event_to, receiver):
    event = event_to(40)

    delivered = at_once(lambda: sender.deliver_event(event.pk, share=2))

    assert sorted(delivered) == [20, 20]
    assert len(receiver.received) == 40
    assert not event.deliveries.exclude(state=DeliveryState.DELIVERED).exists()


@pytest.mark.django_db(transaction=True)
def test_a_share_takes_the_deliveries_another_is_claiming_at_that_moment_no_more(
    hub_settings, event_to, receiver
):
    if not connection.features.has_select_for_update_skip_locked:
        pytest.skip("SQLite runs one writing statement at a time: no claim is ever half done")
    event = event_to(40)
    first_half = list(
        event.deliveries.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:20]
    )
    claiming, done = threading.Event(), threading.Event()

    def other_share_claiming() -> None:
        """Hold the first half's rows as a claim in progress does, until the test is done."""
        try:
            with transaction.atomic():
                list(Delivery.objects.select_for_update().filter(pk__in=first_half))
                claiming.set()
                done.wait(timeout=30)
        finally:
            connection.close()

    other = threading.Thread(target=other_share_claiming)
    other.start()
    try:
        assert claiming.wait(timeout=10)
        assert sender.deliver_event(event.pk, share=2) == 20
    finally:
        done.set()
        other.join(timeout=30)

    pending = set(event.deliveries.filter(state=DeliveryState.PENDING).values_list("pk", flat=True))
    assert pending == set(first_half)
    assert len(receiver.received) == 20
