"""Retention: the purge of tracked sessions, finished logout events (with their deliveries) and
session index entries whose session is gone; its command and its task."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib import import_module
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.management import ManagementUtility, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from logout_sso.internal.retention import PurgeReport, purge
from logout_sso.models import (
    Application,
    Delivery,
    LocalSession,
    LogoutEvent,
    Organization,
    TrackedSession,
)
from logout_sso.models.events import DeliveryState, Initiator, Outcome
from logout_sso.models.tracked_sessions import EndReason
from logout_sso.tasks import purge as purge_task
from tests.celery_app import app as celery_app

ISSUER = "https://idp.example.com/"
DAY = timedelta(days=1)


@pytest.fixture
def organization(make_organization: Callable[..., Organization]) -> Organization:
    return make_organization("acme")


@pytest.fixture
def application(
    make_application: Callable[..., Application], organization: Organization
) -> Application:
    return make_application("wiki", organization)


@pytest.fixture
def tracked_session(
    organization: Organization, application: Application
) -> Callable[..., TrackedSession]:
    """A tracked session, ended at ``ended_at`` (None: live)."""

    def make(session_id: str, ended_at: datetime | None = None) -> TrackedSession:
        session = TrackedSession.objects.create(
            application=application,
            organization=organization,
            issuer=ISSUER,
            sub="alice",
            session_id=session_id,
        )
        if ended_at is not None:
            TrackedSession.objects.filter(pk=session.pk).update(
                ended_at=ended_at, end_reason=EndReason.LOGOUT
            )
        return session

    return make


@pytest.fixture
def logout_event(
    organization: Organization, application: Application
) -> Callable[..., LogoutEvent]:
    """A logout event with ``deliveries`` deliveries, finished at ``completed_at`` (None:
    pending), created ``created_at`` (default: now)."""

    def make(
        completed_at: datetime | None,
        *,
        deliveries: int = 2,
        created_at: datetime | None = None,
    ) -> LogoutEvent:
        event = LogoutEvent.objects.create(
            organization=organization, initiator=Initiator.API, issuer=ISSUER, sub="alice"
        )
        for number in range(deliveries):
            Delivery.objects.create(
                event=event,
                application=application,
                sid=f"sid-{number}",
                state=DeliveryState.PENDING if completed_at is None else DeliveryState.DELIVERED,
            )
        LogoutEvent.objects.filter(pk=event.pk).update(
            outcome=Outcome.PENDING if completed_at is None else Outcome.COMPLETED,
            completed_at=completed_at,
            created_at=created_at or event.created_at,
        )
        Delivery.objects.filter(event=event).update(created_at=created_at or event.created_at)
        return event

    return make


def session_store(session_key: str | None = None) -> SessionBase:
    store: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return store


@pytest.fixture
def local_session(organization: Organization) -> Callable[..., LocalSession]:
    """An index entry created at ``created_at``, of a session in the store (``alive``) or of
    one gone from it."""

    def make(created_at: datetime, *, alive: bool) -> LocalSession:
        store = session_store()
        store["sub"] = "alice"
        store.create()
        assert store.session_key is not None
        entry = LocalSession.objects.create(
            session_key=store.session_key,
            issuer=ISSUER,
            sub="alice",
            sid="idp-session",
            organization=organization,
        )
        LocalSession.objects.filter(pk=entry.pk).update(created_at=created_at)
        if not alive:
            store.delete()
        assert session_store().exists(store.session_key) is alive
        return entry

    return make


def remaining(model: type[TrackedSession | LogoutEvent | Delivery | LocalSession]) -> set[int]:
    return set(model.objects.values_list("pk", flat=True))


def table_sizes() -> dict[str, int]:
    return {
        "tracked_sessions": TrackedSession.objects.count(),
        "logout_events": LogoutEvent.objects.count(),
        "deliveries": Delivery.objects.count(),
        "local_sessions": LocalSession.objects.count(),
    }


# --- Tracked sessions: kept SESSION_RETENTION_DAYS (30) after they ended --------------------------


def test_tracked_sessions_ended_past_their_retention_are_purged(tracked_session):
    now = timezone.now()
    old = tracked_session("old", ended_at=now - 30 * DAY - timedelta(seconds=1))
    recent = tracked_session("recent", ended_at=now - 30 * DAY + timedelta(seconds=1))
    live = tracked_session("live")
    TrackedSession.objects.filter(pk=live.pk).update(created_at=now - 365 * DAY)

    report = purge(now=now)

    assert report == PurgeReport(tracked_sessions=1)
    assert remaining(TrackedSession) == {recent.pk, live.pk}
    assert old.pk not in remaining(TrackedSession)


def test_session_retention_follows_the_setting(settings, tracked_session):
    settings.LOGOUT_SSO = {"SESSION_RETENTION_DAYS": 2}
    now = timezone.now()
    tracked_session("three-days", ended_at=now - 3 * DAY)
    kept = tracked_session("one-day", ended_at=now - 1 * DAY)

    assert purge(now=now).tracked_sessions == 1
    assert remaining(TrackedSession) == {kept.pk}


def test_a_session_is_purged_once_its_retention_has_passed(tracked_session):
    ended_at = timezone.now()
    session = tracked_session("s-1", ended_at=ended_at)

    assert purge(now=ended_at + 29 * DAY).tracked_sessions == 0
    assert purge(now=ended_at + 31 * DAY).tracked_sessions == 1
    assert not TrackedSession.objects.filter(pk=session.pk).exists()


# --- Logout events: kept EVENT_RETENTION_DAYS (90) after they finished, with their deliveries -----


def test_events_finished_past_their_retention_are_purged_with_their_deliveries(logout_event):
    now = timezone.now()
    old = logout_event(now - 91 * DAY, deliveries=3)
    recent = logout_event(now - 89 * DAY, deliveries=2)

    report = purge(now=now)

    assert report == PurgeReport(logout_events=1, deliveries=3)
    assert remaining(LogoutEvent) == {recent.pk}
    assert not Delivery.objects.filter(event_id=old.pk).exists()
    assert Delivery.objects.filter(event=recent).count() == 2


def test_pending_events_are_kept_whatever_their_age(logout_event):
    now = timezone.now()
    ancient = now - 10 * 365 * DAY
    pending = logout_event(None, deliveries=2, created_at=ancient)

    report = purge(now=now)
    later = purge(now=now + 1000 * DAY)

    assert report == later == PurgeReport()
    assert remaining(LogoutEvent) == {pending.pk}
    assert Delivery.objects.filter(event=pending).count() == 2


def test_an_event_sent_again_is_pending_and_kept(logout_event):
    """The admin's "retry" makes a finished event pending again (completed_at cleared)."""
    now = timezone.now()
    event = logout_event(now - 200 * DAY)
    LogoutEvent.objects.filter(pk=event.pk).update(outcome=Outcome.PENDING, completed_at=None)

    assert purge(now=now) == PurgeReport()
    assert remaining(LogoutEvent) == {event.pk}


def test_event_retention_follows_the_setting(settings, logout_event):
    settings.LOGOUT_SSO = {"EVENT_RETENTION_DAYS": 7}
    now = timezone.now()
    logout_event(now - 8 * DAY)
    kept = logout_event(now - 6 * DAY)

    assert purge(now=now) == PurgeReport(logout_events=1, deliveries=2)
    assert remaining(LogoutEvent) == {kept.pk}


# --- Session index: an entry goes once its session is gone from the store -------------------------


@pytest.mark.parametrize(
    "engine",
    [
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.cache",
        "django.contrib.sessions.backends.cached_db",
    ],
)
def test_index_entries_are_kept_while_their_session_exists(settings, local_session, engine):
    settings.SESSION_ENGINE = engine
    now = timezone.now()
    cookie_age = timedelta(seconds=settings.SESSION_COOKIE_AGE)
    alive_old = local_session(now - cookie_age - DAY, alive=True)
    gone_old = local_session(now - cookie_age - DAY, alive=False)
    gone_young = local_session(now - cookie_age + DAY, alive=False)

    report = purge(now=now)

    assert report == PurgeReport(local_sessions=1)
    assert remaining(LocalSession) == {alive_old.pk, gone_young.pk}
    assert gone_old.pk not in remaining(LocalSession)


def test_an_index_entry_goes_once_its_session_is_deleted_from_the_store(local_session):
    now = timezone.now()
    entry = local_session(now - timedelta(seconds=settings.SESSION_COOKIE_AGE) - DAY, alive=True)

    assert purge(now=now) == PurgeReport()
    assert remaining(LocalSession) == {entry.pk}

    session_store(entry.session_key).delete()

    assert purge(now=now) == PurgeReport(local_sessions=1)
    assert not LocalSession.objects.exists()


def test_only_entries_older_than_the_session_cookie_age_are_looked_at(settings, local_session):
    settings.SESSION_COOKIE_AGE = 3600
    now = timezone.now()
    local_session(now - timedelta(hours=2), alive=False)
    young = local_session(now - timedelta(minutes=30), alive=False)

    assert purge(now=now) == PurgeReport(local_sessions=1)
    assert remaining(LocalSession) == {young.pk}


# --- Dry run and batches --------------------------------------------------------------------------


@pytest.fixture
def everything(tracked_session, logout_event, local_session) -> datetime:
    """Something to purge and something to keep of every kind; returns "now"."""
    now = timezone.now()
    old_entry = now - timedelta(seconds=settings.SESSION_COOKIE_AGE) - DAY
    for number in range(5):
        tracked_session(f"old-{number}", ended_at=now - 40 * DAY - number * DAY)
    tracked_session("recent", ended_at=now - DAY)
    tracked_session("live")
    for number in range(3):
        logout_event(now - 100 * DAY - number * DAY, deliveries=3)
    logout_event(now - DAY, deliveries=1)
    logout_event(None, deliveries=1, created_at=now - 200 * DAY)
    for number in range(8):
        local_session(old_entry, alive=number % 3 == 0)  # 0, 3, 6 alive: 5 gone
    local_session(now, alive=False)
    return now


EVERYTHING = PurgeReport(tracked_sessions=5, logout_events=3, deliveries=9, local_sessions=5)
KEPT = {"tracked_sessions": 2, "logout_events": 2, "deliveries": 2, "local_sessions": 4}


def test_a_dry_run_counts_and_deletes_nothing(everything):
    before = table_sizes()

    dry = purge(dry_run=True, now=everything)

    assert dry == EVERYTHING
    assert table_sizes() == before
    assert purge(now=everything) == dry
    assert table_sizes() == KEPT


@pytest.mark.parametrize("batch_size", [1, 2, 1000])
def test_batches_smaller_than_the_rows_still_purge_everything(settings, everything, batch_size):
    settings.LOGOUT_SSO = {"PURGE_BATCH_SIZE": batch_size}

    assert purge(dry_run=True, now=everything) == EVERYTHING
    assert purge(now=everything) == EVERYTHING
    assert table_sizes() == KEPT
    assert purge(now=everything) == PurgeReport()


def test_deliveries_are_deleted_in_batches_before_their_events(settings, logout_event):
    settings.LOGOUT_SSO = {"PURGE_BATCH_SIZE": 2}
    now = timezone.now()
    logout_event(now - 100 * DAY, deliveries=5)
    logout_event(now - 101 * DAY, deliveries=0)

    with CaptureQueriesContext(connection) as queries:
        assert purge(now=now) == PurgeReport(logout_events=2, deliveries=5)

    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    # One statement per batch of at most 2 deliveries (5 deliveries: 3); the events go last.
    by_id = 'DELETE FROM "logout_sso_delivery" WHERE "logout_sso_delivery"."id" IN'
    assert len([sql for sql in deletes if sql.startswith(by_id)]) == 3
    assert deletes[-1].startswith('DELETE FROM "logout_sso_logoutevent"')
    assert not Delivery.objects.exists()


# --- The command ----------------------------------------------------------------------------------


def run(*args: str) -> str:
    output = StringIO()
    call_command("logout_sso_purge", *args, stdout=output)
    return output.getvalue()


def test_the_command_prints_the_counts_in_one_line(everything):
    assert run("--dry-run") == (
        "Would purge: 5 tracked sessions, 3 logout events, 9 deliveries, 5 session index "
        "entries, 0 received signals.\n"
    )
    assert table_sizes() != KEPT

    assert run() == (
        "Purged: 5 tracked sessions, 3 logout events, 9 deliveries, 5 session index entries, "
        "0 received signals.\n"
    )
    assert table_sizes() == KEPT


def test_the_command_says_one_in_the_singular(tracked_session):
    tracked_session("old", ended_at=timezone.now() - 31 * DAY)

    assert run() == (
        "Purged: 1 tracked session, 0 logout events, 0 deliveries, 0 session index entries, "
        "0 received signals.\n"
    )


def test_the_command_prints_one_json_object(everything):
    assert json.loads(run("--dry-run", "--json")) == EVERYTHING.as_dict()
    assert json.loads(run("--json")) == {
        "tracked_sessions": 5,
        "logout_events": 3,
        "deliveries": 9,
        "local_sessions": 5,
        "received_signals": 0,
    }
    assert json.loads(run("--json")) == dict.fromkeys(EVERYTHING.as_dict(), 0)


def test_the_command_exits_2_on_bad_arguments(db, capsys):
    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "logout_sso_purge", "--days", "3"]).execute()

    assert exit_info.value.code == 2
    assert "unrecognized arguments: --days 3" in capsys.readouterr().err


# --- The task -------------------------------------------------------------------------------------


def test_the_task_is_registered_under_its_name():
    registered = celery_app.tasks["logout_sso.purge"]

    assert registered.name == purge_task.name == "logout_sso.purge"
    assert registered.run is purge_task.run


def test_the_task_purges_and_returns_the_counts(everything):
    counts = purge_task.run()

    assert counts == {
        "tracked_sessions": 5,
        "logout_events": 3,
        "deliveries": 9,
        "local_sessions": 5,
        "received_signals": 0,
    }
    assert table_sizes() == KEPT
    assert purge_task() == dict.fromkeys(counts, 0)


def test_received_signals_go_after_the_event_retention(db, settings):
    """The jtis of inbound signals are kept as long as logout events, then purged."""
    from logout_sso.models import Organization, ReceivedSignal, SignalSource

    acme = Organization.objects.create(slug="acme", name="Acme")
    source = SignalSource.objects.create(
        organization=acme,
        name="Okta",
        kind="universal_logout",
        issuer="https://acme.okta.com",
        jwks_uri="https://acme.okta.com/oauth2/v1/keys",
    )
    old, recent = (ReceivedSignal.objects.create(source=source, jti_digest=d) for d in "ab")
    ReceivedSignal.objects.filter(pk=old.pk).update(received_at=timezone.now() - 91 * DAY)

    assert purge(dry_run=True).received_signals == 1
    assert purge().received_signals == 1
    assert list(ReceivedSignal.objects.all()) == [recent]
