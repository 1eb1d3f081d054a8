"""``manage.py logout_sso_sync``: client mode's mirror of the hub's organizations and policies,
refreshed now (what the ``logout_sso.sync_policies`` task does on a schedule)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from logout_sso.api import SyncReport, sync_policies_from_hub
from logout_sso.conf import app_settings
from logout_sso.rp.internal import hub_membership

#: Exit codes: in sync; the hub could not be reached or its answer not applied; bad arguments
#: or not in client mode.
SYNCED, FAILED, USAGE = 0, 1, 2


class Command(BaseCommand):
    help = (
        "Client mode: make this project's organizations and policies those the hub serves to "
        "this application, now (what the logout_sso.sync_policies task does every "
        "POLICY_SYNC_INTERVAL seconds). Exit status: 0 in sync, 1 the sync failed (the hub "
        "unreachable, refusing, or its answer not applicable; nothing changed; the reason on "
        "stderr), 2 bad arguments or not in client mode."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help=(
                "Fetch and apply the hub's whole answer even when its version (ETag) has not "
                "changed: for a copy changed here by other means than the admin."
            ),
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print one JSON object: the hub's URL and what the sync did.",
        )

    def handle(self, *args: Any, force: bool, **options: Any) -> None:
        if not hub_membership.enabled():
            raise CommandError(
                "Not in client mode: set LOGOUT_SSO['HUB_URL'] and ['HUB_API_CREDENTIAL'].",
                returncode=USAGE,
            )
        hub_url = app_settings.HUB_URL or ""
        report = sync_policies_from_hub(force=force)
        if options["json"]:
            self.stdout.write(json.dumps({"hub_url": hub_url, **report.as_dict()}))
        elif report.ok:
            self.stdout.write(f"In sync with {hub_url}: {self.summary(report)}.")
        if not report.ok:
            raise CommandError(f"Sync with {hub_url} failed: {report.error}", returncode=FAILED)

    @staticmethod
    def summary(report: SyncReport) -> str:
        if report.not_modified:
            return f"not modified since the last sync ({report.unchanged} organizations)"
        return (
            f"{report.created} created, {report.updated} updated, {report.removed} removed, "
            f"{report.unchanged} unchanged"
        )
