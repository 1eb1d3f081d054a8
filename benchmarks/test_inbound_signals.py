"""A signal from an organization's identity provider through the whole hub: the Universal Logout
request (or a pushed CAEP session-revoked SET) arriving, its checks (a JWT signed by the
source's RS256 key, the JWKS cached), the logout recorded, Celery on Redis, a real worker
process, the back-channel POSTs to N = 10 applications answering after 50 ms from their own
process, the last acknowledgement recorded. Baseline in the same run: an application's
``POST /sso/api/logouts/`` for the same kind of user. Run with ``make bench``; results merged
into ``benchmarks/results.json``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.db.models import Max
from django.test import Client
from django.utils import timezone

from benchmarks.hub_setup import DELAY, IDP, KEYS, applications, percentile_95, signed_in_everywhere
from benchmarks.test_hub_end_to_end import HUB, all_sent, kept_alive
from benchmarks.test_rp_costs import record
from logout_sso.models import Application, Delivery, LogoutEvent, SignalSource
from logout_sso.models.events import DeliveryState
from logout_sso.models.signal_sources import SignalKind
from tests.services import database_name, running_worker, wait_for
from tests.signal_senders import SESSION_REVOKED, SignalSender, iss_sub

RUNS = 11
APPLICATIONS = 10
UL_PATH = "/sso/organizations/acme/global-token-revocation"
SSF_PATH = "/sso/organizations/acme/ssf/events"


def _sources(organization: Any, sender: SignalSender) -> None:
    for kind in (SignalKind.UNIVERSAL_LOGOUT, SignalKind.SHARED_SIGNALS):
        SignalSource.objects.create(
            organization=organization,
            name=kind,
            kind=kind,
            issuer=sender.issuer,
            jwks_uri=sender.jwks_uri,
        )


def _time_to_last_ack(
    send: Callable[[str], None], organization: Any, apps: list[Application], sub: str
) -> float:
    signed_in_everywhere(organization, apps, sub)
    start = timezone.now()
    send(sub)
    event = LogoutEvent.objects.get(sub=sub)
    pending = Delivery.objects.filter(event=event, state=DeliveryState.PENDING)
    wait_for(partial(all_sent, pending), 30, "the worker did not deliver")
    assert event.deliveries.filter(state=DeliveryState.DELIVERED).count() == len(apps)
    last = event.deliveries.aggregate(last=Max("delivered_at"))["last"]
    return float((last - start).total_seconds())


@pytest.mark.django_db(transaction=True)
def test_signal_arrival_to_last_acknowledgement(
    settings, receivers, make_organization, redis_url, django_db_blocker, tmp_path
):
    settings.LOGOUT_SSO = hub = {**HUB, "HUB_SIGNING_KEY": KEYS["RS256"]}
    settings.OIDC_OP_ISSUER = IDP
    organization = make_organization("acme")
    reporter, credential = Application.objects.create_with_credential(
        name="reporter", client_id="reporter"
    )
    reporter.organizations.add(organization)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {credential}")
    sender = SignalSender()
    _sources(organization, sender)
    apps = applications(organization, receivers[DELAY][:APPLICATIONS], "inbound")

    def api_logout(sub: str) -> None:
        response = api.post("/sso/api/logouts/", {"sub": sub}, content_type="application/json")
        assert response.status_code == 202, response.content

    def universal_logout(sub: str) -> None:
        token = sender.bearer("http://testserver" + UL_PATH)
        response = Client().post(
            UL_PATH,
            {"sub_id": iss_sub(IDP, sub)},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert response.status_code == 204, response.content

    def pushed_set(sub: str) -> None:
        token = sender.security_event(
            "http://testserver" + SSF_PATH, {SESSION_REVOKED: {}}, iss_sub(IDP, sub)
        )
        response = Client().post(SSF_PATH, token, content_type="application/secevent+jwt")
        assert response.status_code == 202, response.content

    overrides = {"LOGOUT_SSO": hub, "OIDC_OP_ISSUER": IDP, **kept_alive(django_db_blocker)}
    try:
        with running_worker(redis_url, database_name(django_db_blocker), tmp_path, overrides):
            kinds = {
                "api_logout": api_logout,
                "universal_logout": universal_logout,
                "shared_signals_push": pushed_set,
            }
            times: dict[str, list[float]] = {name: [] for name in kinds}
            for name, send in kinds.items():  # The JWKS cached, connections open.
                _time_to_last_ack(send, organization, apps, f"warm-{name}")
            for run in range(RUNS):  # Interleaved: the machine's noise falls on all three.
                for name, send in kinds.items():
                    times[name].append(_time_to_last_ack(send, organization, apps, f"{name}-{run}"))
                    time.sleep(0.05)  # Let the worker settle between runs (not a result wait).
            results = {
                name: {
                    "median_ms": round(statistics.median(values) * 1e3, 1),
                    "p95_ms": round(percentile_95(values) * 1e3, 1),
                }
                for name, values in times.items()
            }
    finally:
        sender.close()
    record(
        "inbound_signal_to_last_ack",
        {
            "applications": APPLICATIONS,
            "receiver_delay_ms": DELAY * 1e3,
            "runs": RUNS,
            **results,
        },
    )
