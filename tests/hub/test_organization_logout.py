"""Organization-wide logouts as background jobs: recorded at once, run a batch of users at a
time, resumable, scoped; and, with real workers, surviving a worker killed mid-job."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from logout_sso import api, tasks
from logout_sso.hub.internal import jobs, outbox
from logout_sso.models import (
    Application,
    Delivery,
    LogoutEvent,
    Organization,
    OrganizationLogoutJob,
    TrackedSession,
)
from logout_sso.models.events import DeliveryState
from logout_sso.models.jobs import JobState
from tests.hub_receivers import IDP_ISSUER, register_application, track_session
from tests.signing_in import is_signed_in, sign_in_through_idp


class Queued:
    """The "go" messages of jobs and their deliveries, kept instead of sent."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.batches: list[tuple[int, int]] = []
        self.deliveries: list[tuple[int, str]] = []
        monkeypatch.setattr(
            tasks.run_organization_logout,
            "delay",
            lambda job_id, users_done: self.batches.append((job_id, users_done)),
        )
        monkeypatch.setattr(
            tasks.deliver_organization_logout,
            "delay",
            lambda job_id, claim="": self.deliveries.append((job_id, claim)),
        )
        monkeypatch.setattr(tasks.deliver_event, "delay", lambda *message: None)


@pytest.fixture
def queued_jobs(monkeypatch: pytest.MonkeyPatch) -> Queued:
    return Queued(monkeypatch)


@pytest.fixture
def fleet(db: None, settings: Any) -> tuple[Organization, Organization]:
    """acme with 5 users in two applications (a session each in both), globex with one."""
    settings.OIDC_OP_ISSUER = IDP_ISSUER
    settings.LOGOUT_SSO = {"ORGANIZATION_LOGOUT_BATCH_SIZE": 2}
    acme = Organization.objects.create(slug="acme", name="Acme")
    globex = Organization.objects.create(slug="globex", name="Globex")
    wiki, _ = register_application("wiki", acme, globex, uri="https://wiki.example.com/bcl")
    crm, _ = register_application("crm", acme, uri="https://crm.example.com/bcl")
    for number in range(5):
        for application in (wiki, crm):
            track_session(application, acme, f"user-{number}")
    track_session(wiki, globex, "gina")
    return acme, globex


def run_to_the_end(job: OrganizationLogoutJob) -> int:
    """Run the job's batches here, as its worker would; return how many ran."""
    batches = 1
    while jobs.run_batch(job.pk):
        batches += 1
    return batches


def test_the_job_is_recorded_and_queued_at_once(
    fleet, queued_jobs, django_capture_on_commit_callbacks
):
    acme, _globex = fleet

    with django_capture_on_commit_callbacks(execute=True):
        job = api.log_out_organization(acme)

    assert (job.state, job.users_total, job.users_done) == (JobState.QUEUED, 5, 0)
    assert queued_jobs.batches == [(job.pk, 0)]
    assert not LogoutEvent.objects.exists()
    assert TrackedSession.objects.live().count() == 11


def test_batches_log_every_user_out_once_and_queue_their_deliveries(
    fleet, queued_jobs, django_capture_on_commit_callbacks
):
    acme, globex = fleet
    job = api.log_out_organization(acme)

    with django_capture_on_commit_callbacks(execute=True):
        batches = run_to_the_end(job)

    job.refresh_from_db()
    assert batches == 3  # 2 + 2 + 1 users.
    assert (job.state, job.users_done) == (JobState.DONE, 5)
    events = LogoutEvent.objects.filter(job=job)
    assert sorted(events.values_list("sub", flat=True)) == [f"user-{n}" for n in range(5)]
    assert set(events.values_list("organization", flat=True)) == {acme.pk}
    assert Delivery.objects.filter(event__job=job).count() == 10
    assert queued_jobs.batches == [(job.pk, 2), (job.pk, 4)]  # The batches after the first.
    claims = {claim for _job, claim in queued_jobs.deliveries}
    assert set(Delivery.objects.filter(event__job=job).values_list("claim", flat=True)) == claims
    assert not TrackedSession.objects.live().filter(organization=acme).exists()
    assert TrackedSession.objects.live().get().organization == globex


def test_progress_counts_users_and_deliveries(fleet, queued_jobs):
    acme, _globex = fleet
    job = api.log_out_organization(acme)
    jobs.run_batch(job.pk)
    Delivery.objects.filter(event__sub="user-0").update(state=DeliveryState.DELIVERED)
    Delivery.objects.filter(event__sub="user-1", application__name="crm").update(
        state=DeliveryState.FAILED
    )

    progress = api.organization_logout_progress(job)

    assert (progress.users_done, progress.users_total) == (2, 5)
    assert (progress.delivered, progress.failed, progress.pending) == (2, 1, 1)
    assert not progress.finished


def test_a_batch_that_fails_midway_leaves_no_user_skipped_or_logged_out_twice(
    fleet, queued_jobs, monkeypatch
):
    acme, _globex = fleet
    job = api.log_out_organization(acme)
    jobs.run_batch(job.pk)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the worker died")

    # The batch dies after its events and deliveries were written, before it ends.
    with monkeypatch.context() as patch:
        patch.setattr(outbox, "end_tracked", crash)
        with pytest.raises(RuntimeError):
            jobs.run_batch(job.pk)

    job.refresh_from_db()
    assert job.users_done == 2  # The failed batch left nothing behind.
    run_to_the_end(job)
    job.refresh_from_db()
    per_user = Counter(LogoutEvent.objects.filter(job=job).values_list("sub", flat=True))
    assert per_user == {f"user-{n}": 1 for n in range(5)}
    assert job.state == JobState.DONE


def test_sessions_in_this_project_end_too(fleet, queued_jobs):
    acme, globex = fleet
    at_the_hub, only_at_the_hub, of_globex = Client(), Client(), Client()
    sign_in_through_idp(at_the_hub, acme, username="u0", issuer=IDP_ISSUER, sub="user-0")
    sign_in_through_idp(only_at_the_hub, acme, username="x", issuer=IDP_ISSUER, sub="nowhere")
    sign_in_through_idp(of_globex, globex, username="g", issuer=IDP_ISSUER, sub="gina")
    job = api.log_out_organization(acme)

    run_to_the_end(job)

    job.refresh_from_db()
    assert (is_signed_in(at_the_hub), is_signed_in(only_at_the_hub)) == (False, False)
    assert is_signed_in(of_globex)
    assert job.local_sessions_ended == 2
    assert LogoutEvent.objects.get(job=job, sub="user-0").sessions_ended == 1


def test_a_stalled_job_is_queued_again_by_the_sweeper(fleet, queued_jobs):
    acme, _globex = fleet
    stalled = api.log_out_organization(acme)
    moving = api.log_out_organization(acme)
    OrganizationLogoutJob.objects.filter(pk=stalled.pk).update(
        updated_at=timezone.now() - jobs.stalled_after() - timedelta(seconds=1)
    )

    assert jobs.resume_stalled() == 1
    assert queued_jobs.batches == [(stalled.pk, 0)]
    assert jobs.resume_stalled() == 0  # Not again at once: it waits its turn in the queue.
    assert moving.pk not in dict(queued_jobs.batches)


def test_a_copy_of_a_batch_already_done_does_nothing(
    fleet, queued_jobs, django_capture_on_commit_callbacks
):
    acme, _globex = fleet
    job = api.log_out_organization(acme)
    with django_capture_on_commit_callbacks(execute=True):
        jobs.run_batch(job.pk, 0)

        assert jobs.run_batch(job.pk, 0) is False  # The sweeper's copy of the first batch.

    job.refresh_from_db()
    assert job.users_done == 2
    assert queued_jobs.batches == [(job.pk, 2)]  # One chain of batches, not two.


# --- The admin ---------------------------------------------------------------------------------


def job_page(job: OrganizationLogoutJob) -> str:
    return reverse("admin:logout_sso_organizationlogoutjob_change", args=[job.pk])


def test_the_admins_action_returns_at_once_on_the_jobs_page(
    client, fleet, queued_jobs, django_capture_on_commit_callbacks
):
    acme, _globex = fleet
    client.force_login(User.objects.create_superuser("root"))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:logout_sso_organization_changelist"),
            {"action": "log_out_everyone", "_selected_action": [acme.pk], "confirm": "yes"},
            follow=True,
        )

    job = OrganizationLogoutJob.objects.get()
    assert response.redirect_chain[-1][0] == job_page(job)
    page = response.content.decode()
    assert "Users logged out: 0 of 5" in page
    assert '<meta http-equiv="refresh" content="3">' in page
    assert not LogoutEvent.objects.exists()

    run_to_the_end(job)
    Delivery.objects.update(state=DeliveryState.DELIVERED)
    page = client.get(job_page(job)).content.decode()
    assert "Users logged out: 5 of 5" in page
    assert "10 delivered, 0 failed, 0 pending" in page
    assert "Finished: every user is logged out everywhere." in page
    assert "http-equiv" not in page


def test_an_org_admin_sees_only_their_organizations_jobs(
    client, fleet, queued_jobs, make_org_admin
):
    acme, globex = fleet
    theirs, ours = api.log_out_organization(globex), api.log_out_organization(acme)
    client.force_login(make_org_admin("acme-admin", acme))

    assert client.get(job_page(theirs)).status_code == 404
    assert client.get(job_page(ours)).status_code == 200
    listing = client.get(reverse("admin:logout_sso_organizationlogoutjob_changelist"))
    assert list(listing.context["cl"].result_list) == [ours]


def test_an_org_admin_cannot_start_a_job_for_another_organization(
    client, fleet, queued_jobs, make_org_admin
):
    acme, globex = fleet
    client.force_login(make_org_admin("acme-admin", acme))

    client.post(
        reverse("admin:logout_sso_organization_changelist"),
        {"action": "log_out_everyone", "_selected_action": [globex.pk], "confirm": "yes"},
    )

    assert not OrganizationLogoutJob.objects.exists()


def test_retrying_a_jobs_failed_deliveries_goes_to_its_queue(
    fleet, queued_jobs, django_capture_on_commit_callbacks
):
    acme, _globex = fleet
    job = api.log_out_organization(acme)
    run_to_the_end(job)
    Delivery.objects.filter(event__job=job, application__name="crm").update(
        state=DeliveryState.FAILED
    )
    queued_jobs.deliveries.clear()

    with django_capture_on_commit_callbacks(execute=True):
        count = api.retry_failed_deliveries(
            LogoutEvent.objects.filter(job=job),
            application=Application.objects.get(name="crm"),
        )

    assert count == 5
    assert queued_jobs.deliveries == [(job.pk, "")]  # One task for the job, not one per event.
    assert not Delivery.objects.filter(state=DeliveryState.FAILED).exists()
