"""``manage.py logout_sso_status``: what an operator watches, as a table or as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import CommandParser

from logout_sso.internal import status
from logout_sso.internal.commands import OperatorCommand, table
from logout_sso.rp.internal import hub_membership


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S %Z")


def _seconds(age: int | None) -> str:
    return "never" if age is None else f"{age} s ago"


class Command(OperatorCommand):
    help = (
        "The hub's deliveries pending and failed (the oldest pending one's age), per\n"
        "application; the organization-wide logouts under way; in client mode, the age of\n"
        "this project's copy of the hub's organizations and policies."
    )
    epilog = """\
exit codes:
  0  the status was printed
  2  bad arguments: an unknown organization

examples:
  python manage.py logout_sso_status
  python manage.py logout_sso_status --organization acme --json | jq .deliveries.pending
"""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--organization",
            metavar="SLUG",
            help="Only this organization's deliveries, applications and logouts.",
        )
        self.add_json_argument(parser, "see the commands reference for its keys")

    def handle(self, *args: Any, organization: str | None, **options: Any) -> None:
        scope = self.organization(organization) if organization else None
        now = status.collect(organization=scope, client_mode=hub_membership.enabled())
        self.emit(now.as_dict(), self.lines(now), as_json=options["json"])

    def lines(self, now: status.Status) -> list[str]:
        oldest = now.oldest_pending_age
        lines = [
            f"Deliveries: {now.pending} pending"
            + ("" if oldest is None else f" (oldest {oldest} s)")
            + f", {now.failed} failed.",
            "",
        ]
        lines += table(
            ["Application", "Client id", "Last delivered", "Failed (24 h)", "Failed", "Pending"],
            [
                [
                    a.name + ("" if a.enabled else " (disabled)"),
                    a.client_id,
                    _when(a.last_delivered_at),
                    a.failed_last_24h,
                    a.failed,
                    a.pending,
                ]
                for a in now.applications
            ],
        )
        lines.append("")
        if now.jobs:
            lines.append("Organization-wide logouts under way:")
            lines += table(
                ["Job", "Organization", "State", "Users done", "Requested"],
                [
                    [job.id, job.organization, job.state, f"{job.users_done}/{job.users_total}",
                     _when(job.created_at)]
                    for job in now.jobs
                ],
            )  # fmt: skip
        else:
            lines.append("No organization-wide logout under way.")
        if now.mirror is not None:
            lines += [
                "",
                f"Policies from the hub ({now.mirror.hub_url}): confirmed "
                f"{_seconds(now.mirror_age)}; last error: {now.mirror.last_error or 'none'}.",
            ]
        return lines
