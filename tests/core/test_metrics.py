"""The metrics view (``/metrics/`` in tests/urls.py) as Prometheus and an operator meet it:
who may read it, what the database's figures say, the counters of other processes
(prometheus-client's multiprocess mode), the setting and the system checks.

The counters live in prometheus-client's default registry, shared by the whole test process:
tests compare a counter before and after, never its absolute value.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from logout_sso import api
from logout_sso.checks import Codes, check_extras, check_metrics_multiprocess
from logout_sso.conf import app_settings
from logout_sso.internal.metrics import MULTIPROCESS_DIR
from logout_sso.internal.metrics.state import LIVE_SESSIONS_KEY
from logout_sso.models import (
    Delivery,
    LogoutEvent,
    OrganizationLogoutJob,
    PolicyMirror,
)
from logout_sso.models.events import DeliveryState, Initiator
from logout_sso.models.jobs import JobState
from tests.hub_receivers import IDP_ISSUER, register_application, track_session
from tests.metrics import Exposition, scrape
from tests.services import REPO_ROOT

#: TEST-NET-1: the tests' Prometheus server, never a real client.
PROMETHEUS = "192.0.2.10"


# --- Who may read it ----------------------------------------------------------------------------


@pytest.fixture
def allowed_networks(settings):
    settings.LOGOUT_SSO = {"METRICS_ALLOWED_NETWORKS": ["192.0.2.0/24", "2001:db8::/32"]}


def test_an_anonymous_client_is_refused(db):
    response = Client().get("/metrics/")

    assert response.status_code == 403
    assert response.content == b"Metrics are for staff users and METRICS_ALLOWED_NETWORKS only."


def test_a_user_who_is_not_staff_is_refused(db):
    client = Client()
    client.force_login(User.objects.create_user("alice"))

    assert client.get("/metrics/").status_code == 403


def test_a_staff_user_reads_the_metrics_from_anywhere(metrics_reader):
    exposition = scrape(metrics_reader)

    assert "logout_sso_logouts" in exposition.families


def test_an_inactive_staff_user_is_refused(db):
    client = Client()
    client.force_login(User.objects.create_user("gone", is_staff=True))
    User.objects.filter(username="gone").update(is_active=False)

    assert client.get("/metrics/").status_code == 403


@pytest.mark.parametrize("address", [PROMETHEUS, "2001:db8::7", "::ffff:192.0.2.10"])
def test_a_client_of_an_allowed_network_reads_them_without_signing_in(
    db, allowed_networks, address
):
    exposition = scrape(Client(REMOTE_ADDR=address))

    assert exposition.value("logout_sso_logouts_total", initiator="api") >= 0


@pytest.mark.parametrize("address", ["198.51.100.1", "127.0.0.1", "2001:db9::1", "", "bogus"])
def test_a_client_of_another_network_is_refused(db, allowed_networks, address):
    assert Client(REMOTE_ADDR=address).get("/metrics/").status_code == 403


def test_without_allowed_networks_only_staff_may_read(db, settings):
    settings.LOGOUT_SSO = {}

    assert Client(REMOTE_ADDR=PROMETHEUS).get("/metrics/").status_code == 403


def test_only_get_and_head(metrics_reader):
    assert metrics_reader.post("/metrics/").status_code == 405
    assert metrics_reader.head("/metrics/").status_code == 200


# --- The setting ------------------------------------------------------------------------------


def test_allowed_networks_are_parsed(settings):
    settings.LOGOUT_SSO = {"METRICS_ALLOWED_NETWORKS": ["10.0.0.0/8", "192.0.2.7", "::1"]}

    assert [str(n) for n in app_settings.METRICS_ALLOWED_NETWORKS] == [
        "10.0.0.0/8",
        "192.0.2.7/32",
        "::1/128",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["10.0.0.0/33"], "'10.0.0.0/33', which is not a network"),
        (["10.0.0.1/8"], "'10.0.0.1/8', which is not a network"),  # host bits set: a typo
        (["intranet"], "'intranet', which is not a network"),
        ([10], "10, which is not a network"),
        ("10.0.0.0/8", "must be a list of networks (CIDR), not str"),
    ],
)
def test_a_bad_network_fails_naming_the_key(settings, value, message):
    settings.LOGOUT_SSO = {"METRICS_ALLOWED_NETWORKS": value}

    with pytest.raises(ImproperlyConfigured) as raised:
        app_settings.validate()

    assert str(raised.value).startswith("LOGOUT_SSO['METRICS_ALLOWED_NETWORKS'] ")
    assert message in str(raised.value)


# --- The database's figures (a hub) -------------------------------------------------------------


def pending_delivery(application, *, age: timedelta, state=DeliveryState.PENDING) -> Delivery:
    event = LogoutEvent.objects.create(initiator=Initiator.API, issuer=IDP_ISSUER, sub="user-1")
    delivery = Delivery.objects.create(event=event, application=application, state=state)
    Delivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - age)
    return delivery


def test_pending_deliveries_and_the_oldest_age_per_application(hub_settings, metrics_reader, acme):
    wiki, _ = register_application("wiki", acme)
    billing, _ = register_application("billing", acme)
    register_application("crm", acme)
    pending_delivery(wiki, age=timedelta(seconds=30))
    pending_delivery(wiki, age=timedelta(minutes=10))
    pending_delivery(wiki, age=timedelta(days=3), state=DeliveryState.DELIVERED)
    pending_delivery(billing, age=timedelta(days=2), state=DeliveryState.FAILED)
    pending_delivery(billing, age=timedelta(seconds=5))

    exposition = scrape(metrics_reader)

    pending = "logout_sso_deliveries_pending"
    assert exposition.value(pending, application="wiki") == 2
    assert exposition.value(pending, application="billing") == 1
    assert exposition.value(pending, application="crm") == 0
    oldest = "logout_sso_delivery_oldest_pending_age_seconds"
    assert 600 <= exposition.value(oldest, application="wiki") < 660
    assert 5 <= exposition.value(oldest, application="billing") < 65
    assert exposition.value(oldest, application="crm") == 0


def test_live_sessions_per_application(hub_settings, metrics_reader, acme):
    wiki, _ = register_application("wiki", acme)
    billing, _ = register_application("billing", acme)
    track_session(wiki, acme, "user-1")
    track_session(wiki, acme, "user-2")
    track_session(wiki, acme, "user-3", expires_at=timezone.now() - timedelta(seconds=1))
    ended = track_session(billing, acme, "user-1")
    ended.ended_at, ended.end_reason = timezone.now(), "logout"
    ended.save()

    exposition = scrape(metrics_reader)

    assert exposition.value("logout_sso_tracked_sessions_live", application="wiki") == 2
    assert exposition.value("logout_sso_tracked_sessions_live", application="billing") == 0


def test_live_sessions_are_counted_at_most_once_a_minute(hub_settings, metrics_reader, acme):
    wiki, _ = register_application("wiki", acme)
    track_session(wiki, acme, "user-1")
    assert scrape(metrics_reader).value("logout_sso_tracked_sessions_live", application="wiki") == 1

    track_session(wiki, acme, "user-2")
    assert scrape(metrics_reader).value("logout_sso_tracked_sessions_live", application="wiki") == 1

    cache.delete(LIVE_SESSIONS_KEY)  # The minute is over.
    assert scrape(metrics_reader).value("logout_sso_tracked_sessions_live", application="wiki") == 2


def test_organization_logouts_in_progress(hub_settings, metrics_reader, acme):
    for state in (JobState.QUEUED, JobState.RUNNING, JobState.RUNNING, JobState.DONE):
        OrganizationLogoutJob.objects.create(organization=acme, state=state)

    exposition = scrape(metrics_reader)

    jobs = "logout_sso_organization_logouts_in_progress"
    assert exposition.value(jobs, state="queued") == 1
    assert exposition.value(jobs, state="running") == 2
    assert exposition.find(jobs, state="done") is None


def test_a_project_that_is_no_hub_reports_no_delivery_figures(metrics_reader, settings):
    settings.LOGOUT_SSO = {}

    exposition = scrape(metrics_reader)

    assert "logout_sso_deliveries_pending" not in exposition.families
    assert "logout_sso_policy_mirror_age_seconds" not in exposition.families


def test_the_delivery_figures_read_only_pending_rows_along_the_index(db):
    """At 1,000,000 deliveries, a scrape must not read the delivered ones: the plan of the
    pending aggregate searches an index of pending deliveries by next attempt (the partial
    ``logout_sso_delivery_due``, or ``logout_sso_delivery_state``: state, next attempt), never
    the table nor the application's index."""
    with CaptureQueriesContext(connection) as executed:
        Delivery.objects.pending_by_application()
    [query] = executed.captured_queries
    explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    with connection.cursor() as cursor:
        cursor.execute(explain + query["sql"])
        plan = "\n".join(str(row[-1]) for row in cursor.fetchall())

    if connection.vendor == "sqlite":
        assert "SEARCH logout_sso_delivery USING INDEX logout_sso_delivery_state (state=?)" in plan
    else:
        assert re.search(r"Index (Only )?Scan using logout_sso_delivery_(due|state)", plan), plan
    assert "logout_sso_delivery_application_id" not in plan, plan
    assert "Seq Scan" not in plan, plan


# --- Client mode: the age of the copy of the hub's policies --------------------------------------


@pytest.fixture
def client_mode(settings):
    settings.LOGOUT_SSO = {
        "HUB_URL": "https://hub.example.com/sso/api/",
        "HUB_API_CREDENTIAL": "lsso_x_y",
        "POLICY_SYNC_INTERVAL": 60,
    }


def test_the_policy_mirror_age_in_client_mode(client_mode, metrics_reader):
    PolicyMirror.objects.create(
        hub_url="https://hub.example.com/sso/api/",
        synced_at=timezone.now() - timedelta(seconds=100),
    )

    exposition = scrape(metrics_reader)

    assert 100 <= exposition.value("logout_sso_policy_mirror_age_seconds") < 160
    assert exposition.value("logout_sso_policy_mirror_stale") == 0
    assert "logout_sso_deliveries_pending" not in exposition.families  # not a hub


def test_a_policy_mirror_never_confirmed_is_infinitely_old_and_stale(client_mode, metrics_reader):
    exposition = scrape(metrics_reader)

    assert exposition.value("logout_sso_policy_mirror_age_seconds") == math.inf
    assert exposition.value("logout_sso_policy_mirror_stale") == 1


# --- Counters of other processes: multiprocess mode ---------------------------------------------

COUNT_IN_ANOTHER_PROCESS = """
import django
django.setup()
from logout_sso.internal.metrics import events
events.count_logouts("api", 3)
events.count_attempts([("wiki", {"state": "delivered", "latency_ms": 120}), ("wiki", {})])
"""


def test_the_view_adds_up_the_counters_every_process_of_the_host_wrote(
    metrics_reader, tmp_path, monkeypatch
):
    """Two other processes (a gunicorn worker, a Celery pool process) counted, each in its
    own file under PROMETHEUS_MULTIPROC_DIR; the view, in multiprocess mode, adds them up."""
    environment = {
        **os.environ,
        MULTIPROCESS_DIR: str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-c", COUNT_IN_ANOTHER_PROCESS],
            cwd=REPO_ROOT,
            env=environment,
            check=True,
            timeout=120,
        )
    monkeypatch.setenv(MULTIPROCESS_DIR, str(tmp_path))

    exposition = scrape(metrics_reader)

    assert exposition.value("logout_sso_logouts_total", initiator="api") == 6
    attempts = "logout_sso_delivery_attempts_total"
    assert exposition.value(attempts, application="wiki", outcome="delivered") == 2
    assert exposition.value(attempts, application="wiki", outcome="retry") == 2
    latency = "logout_sso_delivery_latency_seconds_bucket"
    assert exposition.value(latency, application="wiki", le="0.1") == 0
    assert exposition.value(latency, application="wiki", le="0.25") == 2


# --- Counted where it happens: logouts by initiator --------------------------------------------


def logouts(exposition: Exposition, initiator: str) -> float:
    return exposition.value("logout_sso_logouts_total", initiator=initiator)


def test_every_initiator_is_at_zero_before_its_first_logout(metrics_reader):
    exposition = scrape(metrics_reader)

    for initiator in Initiator:
        assert logouts(exposition, initiator.value) >= 0


@pytest.fixture
def signed_in_at_wiki(hub_settings, acme):
    """user-1 of acme holds a session in the application wiki."""
    wiki, _ = register_application("wiki", acme, uri="https://wiki.example.com/bcl")
    track_session(wiki, acme, "user-1")


def test_a_logout_is_counted_by_initiator_once_committed(
    signed_in_at_wiki, metrics_reader, acme, queued, django_capture_on_commit_callbacks
):
    before = logouts(scrape(metrics_reader), "api")
    with django_capture_on_commit_callbacks(execute=True):
        api.log_out_user(acme, initiator=Initiator.API, sub="user-1", issuer=IDP_ISSUER)

    assert logouts(scrape(metrics_reader), "api") == before + 1


@pytest.mark.django_db(transaction=True)
def test_a_logout_rolled_back_is_not_counted(signed_in_at_wiki, metrics_reader, acme, queued):
    def log_out_then_fail() -> None:
        with transaction.atomic():
            api.log_out_user(acme, initiator=Initiator.ADMIN, sub="user-1", issuer=IDP_ISSUER)
            raise RuntimeError("rolled back")

    before = logouts(scrape(metrics_reader), "admin")
    with pytest.raises(RuntimeError):
        log_out_then_fail()

    assert LogoutEvent.objects.count() == 0
    assert logouts(scrape(metrics_reader), "admin") == before


# --- System checks ------------------------------------------------------------------------------


def test_a_mounted_metrics_view_without_prometheus_client_is_told_to_install_the_extra(
    settings, monkeypatch
):
    settings.LOGOUT_SSO = {}
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # A base install.

    [error] = check_extras(app_configs=None, databases=None)

    assert error.id == Codes.EXTRA_MISSING
    assert error.msg == "The URLconf mounts MetricsView, but prometheus_client cannot be imported."
    assert error.hint == "pip install 'django-logout-sso[metrics]'"


def test_an_unmounted_metrics_view_needs_no_prometheus_client(settings, monkeypatch):
    settings.LOGOUT_SSO = {}
    settings.ROOT_URLCONF = "logout_sso.urls"
    monkeypatch.setitem(sys.modules, "prometheus_client", None)

    assert check_extras(app_configs=None, databases=None) == []


def test_a_hub_whose_view_cannot_see_its_workers_is_warned(hub_settings, monkeypatch):
    monkeypatch.delenv(MULTIPROCESS_DIR, raising=False)

    [warning] = check_metrics_multiprocess(app_configs=None, databases=None)

    assert warning.id == Codes.METRICS_NOT_MULTIPROCESS
    assert "PROMETHEUS_MULTIPROC_DIR is not set" in warning.msg


def test_no_warning_in_multiprocess_mode_without_the_view_or_on_no_hub(
    hub_settings, monkeypatch, tmp_path
):
    monkeypatch.setenv(MULTIPROCESS_DIR, str(tmp_path))
    assert check_metrics_multiprocess(app_configs=None, databases=None) == []

    monkeypatch.delenv(MULTIPROCESS_DIR)
    hub_settings.ROOT_URLCONF = "logout_sso.urls"
    assert check_metrics_multiprocess(app_configs=None, databases=None) == []

    hub_settings.ROOT_URLCONF = "tests.urls"
    hub_settings.LOGOUT_SSO = {}
    assert check_metrics_multiprocess(app_configs=None, databases=None) == []
