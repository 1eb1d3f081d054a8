"""``manage.py logout_sso_logout``: log a user, or every user of an organization, out of every
application, as an operator; with ``--wait``, until every delivery is done."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import CommandParser
from django.urls import NoReverseMatch, reverse

from logout_sso import api
from logout_sso.hub.internal import progress, whereabouts
from logout_sso.hub.internal.progress import LogoutProgress
from logout_sso.internal.commands import (
    ExitCode,
    OperatorCommand,
    ProgressBars,
    seconds,
    wait_until,
)
from logout_sso.models import LogoutEvent, Organization, OrganizationLogoutJob

DEFAULT_TIMEOUT = 300


#: Where nothing was started.
NOTHING = LogoutProgress(delivered=0, failed=0, pending=0, local_sessions_ended=0)


def payload(
    result: str, now: LogoutProgress, *, user: str | None, organization: str | None
) -> dict[str, Any]:
    """The ``--json`` object (documented in the commands reference), with nothing started."""
    return {
        "result": result,
        "user": user,
        "organization": organization,
        "events": [],
        "job": None,
        "job_admin_url": None,
        "users": None
        if now.users_total is None
        else {"done": now.users_done, "total": now.users_total},
        "local_sessions_ended": now.local_sessions_ended,
        "deliveries": now.deliveries(),
    }


@dataclass
class Started:
    """What the command started: a user's logout events, or an organization-wide job."""

    organization: Organization
    user: str | None = None
    events: list[LogoutEvent] = field(default_factory=list)
    job: OrganizationLogoutJob | None = None

    def progress(self) -> LogoutProgress:
        if self.job is not None:
            return api.organization_logout_progress(self.job)
        ended = sum(event.sessions_ended for event in self.events)
        return progress.of_events([e.pk for e in self.events], local_sessions_ended=ended)

    def job_admin_url(self) -> str | None:
        """The path of the job's page in the admin, where it is installed."""
        if self.job is None:
            return None
        try:
            return reverse("admin:logout_sso_organizationlogoutjob_change", args=[self.job.pk])
        except NoReverseMatch:
            return None


class Command(OperatorCommand):
    help = (
        "Log a user out of every application of their organization and of this project\n"
        "(--user), or every user of an organization (--organization alone: a background job\n"
        "the Celery workers run). Recorded as a logout by an admin, with no admin user.\n"
        "With --wait, wait until every back-channel logout is delivered or has failed."
    )
    epilog = f"""\
--user: an email when it has an @ (every user whose sessions were registered with it),
else a subject (sub). --organization may be left out when exactly one organization holds a
live session of the user (tracked for an application, or this project's own); --issuer when
their sessions there are all at one issuer.

exit codes:
  0  started (without --wait); every delivery delivered (with --wait); or nothing to do:
     the user has no live session (said so)
  1  some deliveries failed for good (with --wait; retry them with logout_sso_retry)
  2  bad arguments: neither --user nor --organization, an unknown organization, a user
     found in several organizations without --organization, or at several issuers
     without --issuer
  3  --wait's timeout (default {DEFAULT_TIMEOUT} s) passed with deliveries pending

examples:
  python manage.py logout_sso_logout --user jane@acme.example --wait
  python manage.py logout_sso_logout --user 'auth0|62f0c1' --organization acme --json
  python manage.py logout_sso_logout --organization acme --wait --timeout 3600
"""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--user", metavar="SUB|EMAIL", help="The user: a subject, or an email (with an @)."
        )
        parser.add_argument(
            "--organization",
            metavar="SLUG",
            help="The user's organization; alone: log every user of it out.",
        )
        parser.add_argument(
            "--issuer",
            metavar="URL",
            help="With a subject: the issuer of their sessions (when they have several).",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Wait until every delivery is delivered or has failed, with progress bars on "
            "a terminal, then print a summary.",
        )
        parser.add_argument(
            "--timeout",
            type=seconds,
            default=DEFAULT_TIMEOUT,
            metavar="SECONDS",
            help=f"How long --wait waits at most (default {DEFAULT_TIMEOUT}).",
        )
        self.add_json_argument(parser, "what was started and, with --wait, how it ended")

    def handle(
        self,
        *args: Any,
        user: str | None,
        organization: str | None,
        issuer: str | None,
        wait: bool,
        timeout: float,
        **options: Any,
    ) -> None:
        if not user and not organization:
            self.fail("Name the user (--user) or the organization (--organization).")
        if issuer and (not user or whereabouts.is_email(user)):
            self.fail("--issuer goes with a subject (--user SUB).")
        scope = self.organization(organization) if organization else None
        if user:
            started = self.log_out_user(user, scope, issuer)
        else:
            assert scope is not None
            started = Started(scope, job=api.log_out_organization(scope))
        if started is None:
            self.emit(
                payload("nothing_to_do", NOTHING, user=user, organization=organization),
                [f"Nothing to do: {user} has no live session."],
                as_json=options["json"],
            )
            return
        if wait:
            self.wait(started, timeout, as_json=options["json"])
        else:
            self.report(started, started.progress(), "started", as_json=options["json"])

    def log_out_user(
        self, user: str, organization: Organization | None, issuer: str | None
    ) -> Started | None:
        found = whereabouts.where_signed_in(user, issuer=issuer, organization=organization)
        if not found:
            return None
        if len(found) > 1:
            self.fail(
                f"{user} is signed in in several organizations "
                f"({', '.join(o.slug for o in found)}): name one with --organization."
            )
        [(chosen, issuers)] = found.items()
        admin = api.Initiator.ADMIN
        if whereabouts.is_email(user):
            events = api.log_out_users_by_email(chosen, user, initiator=admin)
        else:
            if len(issuers) > 1:
                self.fail(
                    f"{user} has sessions at several issuers ({', '.join(issuers)}): "
                    "name one with --issuer."
                )
            event = api.log_out_user(chosen, initiator=admin, sub=user, issuer=issuers[0])
            events = [] if event is None else [event]
        return Started(chosen, user=user, events=events) if events else None

    def wait(self, started: Started, timeout: float, *, as_json: bool) -> None:
        with ProgressBars(self.stderr) as bars:

            def show(now: LogoutProgress) -> None:
                if now.users_total is not None and now.users_done is not None:
                    bars.show("users", now.users_done, now.users_total)
                bars.show("deliveries", now.done, now.total)

            final, finished = wait_until(
                started.progress, lambda now: now.finished, timeout=timeout, seen=show
            )
        result = "timed_out" if not finished else "failed" if final.failed else "delivered"
        self.report(started, final, result, as_json=as_json)
        if not finished:
            self.fail(
                f"Timed out after {timeout:g} s: {final.pending} of {final.total} deliveries "
                "still pending.",
                ExitCode.TIMED_OUT,
            )
        if final.failed:
            self.fail(
                f"{final.failed} of {final.total} deliveries failed (retry them with "
                "logout_sso_retry once the application is fixed).",
                ExitCode.FAILED,
            )

    def report(self, started: Started, now: LogoutProgress, result: str, *, as_json: bool) -> None:
        job = started.job
        printed = payload(result, now, user=started.user, organization=started.organization.slug)
        printed.update(
            events=[event.pk for event in started.events],
            job=None if job is None else job.pk,
            job_admin_url=started.job_admin_url(),
        )
        if job is not None:
            lines = [
                f"Logging every user of {started.organization.slug} out: job {job.pk} "
                f"({now.users_done} of {now.users_total} users done)."
            ]
            if started.job_admin_url():
                lines.append(f"Progress: {started.job_admin_url()}")
        else:
            ids = ", ".join(str(event.pk) for event in started.events)
            lines = [
                f"Logged {started.user} out in {started.organization.slug}: "
                f"event{'s' if len(started.events) > 1 else ''} {ids}; "
                f"{now.local_sessions_ended} session(s) ended here."
            ]
        lines.append(
            f"Deliveries: {now.delivered} delivered, {now.failed} failed, {now.pending} pending."
        )
        self.emit(printed, lines, as_json=as_json)
