"""End to end on the hub: a user of Acme signed in to two applications; a signal from Acme's
identity provider (Universal Logout, a pushed CAEP session-revoked SET, a polled one) reaches
both applications as back-channel logouts, sent by a real Celery worker to loopback receivers.
"""

from __future__ import annotations

import pytest

from logout_sso.inbound.internal import polling
from logout_sso.models import LogoutEvent
from logout_sso.models.signal_sources import DeliveryMethod
from tests.inbound.conftest import alice, ssf_audience, ul_audience
from tests.services import wait_for
from tests.signal_senders import SESSION_REVOKED

HUB_SSF_AUDIENCE = "https://hub.example.com/sso/organizations/acme/ssf/events"


@pytest.fixture
def signed_in(tenants, receivers):
    """alice's two applications (wiki, billing) receive at loopback receivers."""
    wiki, billing = receivers(), receivers()
    for application, receiver in (("wiki", wiki), ("billing", billing)):
        tenants.acme.applications.filter(name=application).update(
            backchannel_logout_uri=receiver.url
        )
    return tenants, wiki, billing


def _both_signed_out(wiki, billing, initiator):
    for receiver in (wiki, billing):
        receiver.wait_for_requests(1, timeout=30)
    wait_for(
        lambda: LogoutEvent.objects.filter(completed_at__isnull=False).exists(),
        30,
        "the logout event did not complete",
    )
    [event] = LogoutEvent.objects.all()
    assert event.initiator == initiator
    assert event.outcome == "completed"
    assert len(wiki.received) == len(billing.received) == 1


@pytest.mark.django_db(transaction=True)
def test_universal_logout_reaches_both_applications(signed_in, hub_worker):
    tenants, wiki, billing = signed_in

    response = tenants.revoke(tenants.acme_idp.bearer(ul_audience()), alice())

    assert response.status_code == 204
    _both_signed_out(wiki, billing, "universal_logout")


@pytest.mark.django_db(transaction=True)
def test_pushed_session_revoked_reaches_both_applications(signed_in, hub_worker):
    tenants, wiki, billing = signed_in
    token = tenants.acme_idp.security_event(ssf_audience(), {SESSION_REVOKED: {}}, alice())

    assert tenants.push(token).status_code == 202
    _both_signed_out(wiki, billing, "shared_signals")


@pytest.mark.django_db(transaction=True)
def test_polled_session_revoked_reaches_both_applications(signed_in, hub_worker, settings):
    tenants, wiki, billing = signed_in
    source = tenants.acme_ssf
    source.delivery_method = DeliveryMethod.POLL
    source.stream_endpoint_url = tenants.acme_idp.poll_url
    source.set_management_token(tenants.acme_idp.management_token)
    source.save()
    settings.LOGOUT_SSO = {**settings.LOGOUT_SSO, "PUBLIC_URL": "https://hub.example.com"}
    token = tenants.acme_idp.security_event(HUB_SSF_AUDIENCE, {SESSION_REVOKED: {}}, alice())
    tenants.acme_idp.hold(token)

    assert polling.poll_all()["received"] == 1
    _both_signed_out(wiki, billing, "shared_signals")
    assert tenants.acme_idp.waiting == []
    assert tenants.acme_idp.poll_requests[-1]["ack"]
