"""The hub's metrics after a real fan-out: a logout reported through the session API, sent by a
real Celery worker process (prefork) to receivers on loopback, then read at ``/metrics/`` as
Prometheus would.

The deliveries are counted in the worker's pool process, not in this one: the worker runs with
``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode) and the view, run here
with the same directory, adds up what every process of the host wrote, as on a production
host where gunicorn and Celery share it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from logout_sso.internal.metrics import MULTIPROCESS_DIR
from logout_sso.models import Delivery, LogoutEvent, Organization
from tests.celery_app import app as celery_app
from tests.hub_receivers import (
    IDP_ISSUER,
    HubWorker,
    hub_logout_sso,
    hub_policy,
    register_application,
    track_session,
)
from tests.metrics import scrape
from tests.services import database_name, running_worker, wait_for

SETTLE_SECONDS = 30


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The host's PROMETHEUS_MULTIPROC_DIR: empty when its processes start."""
    return tmp_path_factory.mktemp("prometheus-multiproc")


@pytest.fixture(scope="module")
def counting_worker_process(
    django_db_setup: None,
    django_db_blocker: Any,
    redis_url: str,
    hub_rsa_pem: str,
    metrics_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[HubWorker]:
    """The hub's worker (as ``hub_worker``), writing its counters to ``metrics_dir``."""
    with running_worker(
        redis_url,
        database_name(django_db_blocker),
        tmp_path_factory.mktemp("counting-worker"),
        {"LOGOUT_SSO": hub_logout_sso(hub_rsa_pem), "OIDC_OP_ISSUER": IDP_ISSUER},
        environment={MULTIPROCESS_DIR: str(metrics_dir)},
    ) as name:
        yield HubWorker(name=name, queue=celery_app.conf.task_default_queue)


@pytest.fixture
def counting_worker(counting_worker_process: HubWorker) -> HubWorker:
    celery_app.set_current()
    celery_app.conf.task_default_queue = counting_worker_process.queue
    return counting_worker_process


@pytest.fixture
def host_metrics(metrics_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process serves the view as a web process of the worker's host does."""
    monkeypatch.setenv(MULTIPROCESS_DIR, str(metrics_dir))


def report_logout(credential: str) -> int:
    response = Client().post(
        "/sso/api/logouts/",
        {"sub": "user-1", "organization": "acme"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {credential}",
    )
    assert response.status_code == 202, response.content
    event_id: int = response.json()["event"]
    return event_id


def settled(event_id: int) -> LogoutEvent:
    def completed() -> LogoutEvent | None:
        event = LogoutEvent.objects.get(pk=event_id)
        return event if event.completed_at is not None else None

    event: LogoutEvent = wait_for(completed, SETTLE_SECONDS, f"event {event_id} did not settle")
    return event


@pytest.mark.django_db(transaction=True)
def test_a_fan_out_shows_each_applications_outcomes_and_latency(
    hub_settings, counting_worker, host_metrics, receivers, metrics_reader
):
    acme = hub_policy(Organization.objects.create(slug="acme", name="Acme"))
    _portal, credential = register_application("portal", acme)
    answers = {"wiki": [200], "billing": [400], "crm": [503, 200]}
    for name, script in answers.items():
        application, _ = register_application(name, acme, uri=receivers(script).url)
        track_session(application, acme, "user-1", sid="sid-1")

    event = settled(report_logout(credential))

    assert event.outcome == "partial"
    exposition = scrape(metrics_reader)
    attempts = "logout_sso_delivery_attempts_total"
    assert exposition.value(attempts, application="wiki", outcome="delivered") == 1
    assert exposition.value(attempts, application="billing", outcome="failed") == 1
    assert exposition.value(attempts, application="crm", outcome="retry") == 1
    assert exposition.value(attempts, application="crm", outcome="delivered") == 1
    assert exposition.find(attempts, application="wiki", outcome="failed") is None
    latency = "logout_sso_delivery_latency_seconds"
    assert exposition.value(f"{latency}_count", application="wiki") == 1
    assert exposition.value(f"{latency}_count", application="crm") == 1
    crm_latency = Delivery.objects.get(application__name="crm").latency_ms
    assert crm_latency is not None
    assert exposition.value(f"{latency}_sum", application="crm") == pytest.approx(
        crm_latency / 1000
    )
    assert exposition.find(f"{latency}_count", application="billing") is None
    # And the database's figures: nothing left pending; the sessions ended.
    for name in answers:
        assert exposition.value("logout_sso_deliveries_pending", application=name) == 0
        assert exposition.value("logout_sso_tracked_sessions_live", application=name) == 0
