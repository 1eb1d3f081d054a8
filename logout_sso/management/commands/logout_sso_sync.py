"""``manage.py logout_sso_sync``: client mode's mirror of the hub's organizations and policies,
refreshed now (what the ``logout_sso.sync_policies`` task does on a schedule)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from logout_sso.api import SyncReport, sync_policies_from_hub
from logout_sso.conf import app_settings
from logout_sso.internal.commands import ExitCode, OperatorCommand
from logout_sso.rp.internal import hub_membership


class Command(OperatorCommand):
    help = (
        "Client mode: make this project's organizations and policies those the hub serves to\n"
        "this application, now (what the logout_sso.sync_policies task does every\n"
        "POLICY_SYNC_INTERVAL seconds). Asks with the version held: an unchanged hub answers\n"
        "304 and nothing is written."
    )
    epilog = """\
exit codes:
  0  in sync: the hub's answer applied, or not modified
  1  the sync failed, nothing changed: the hub unreachable or refusing, or its answer not
     applicable (the reason on stderr)
  2  bad arguments, or not in client mode

examples:
  python manage.py logout_sso_sync
  python manage.py logout_sso_sync --force --json
"""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help=(
                "Fetch and apply the hub's whole answer even when its version (ETag) has not "
                "changed: for a copy changed here by other means than the admin."
            ),
        )
        self.add_json_argument(
            parser,
            '{"hub_url": ..., "created": N, "updated": N, "removed": N, "unchanged": N, '
            '"not_modified": BOOL, "error": "..."}',
        )

    def handle(self, *args: Any, force: bool, **options: Any) -> None:
        if not hub_membership.enabled():
            self.fail("Not in client mode: set LOGOUT_SSO['HUB_URL'] and ['HUB_API_CREDENTIAL'].")
        hub_url = app_settings.HUB_URL or ""
        report = sync_policies_from_hub(force=force)
        lines = [f"In sync with {hub_url}: {self.summary(report)}."] if report.ok else []
        self.emit({"hub_url": hub_url, **report.as_dict()}, lines, as_json=options["json"])
        if not report.ok:
            self.fail(f"Sync with {hub_url} failed: {report.error}", ExitCode.FAILED)

    @staticmethod
    def summary(report: SyncReport) -> str:
        if report.not_modified:
            return f"not modified since the last sync ({report.unchanged} organizations)"
        return (
            f"{report.created} created, {report.updated} updated, {report.removed} removed, "
            f"{report.unchanged} unchanged"
        )
