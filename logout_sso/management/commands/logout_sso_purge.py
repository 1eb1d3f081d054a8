"""``manage.py logout_sso_purge``: the retention purge, by hand or from cron."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from logout_sso.api import PurgeReport, purge

#: How each count is printed: (one, several).
KINDS = {
    "tracked_sessions": ("tracked session", "tracked sessions"),
    "logout_events": ("logout event", "logout events"),
    "deliveries": ("delivery", "deliveries"),
    "local_sessions": ("session index entry", "session index entries"),
    "received_signals": ("received signal", "received signals"),
}


class Command(BaseCommand):
    help = (
        "Delete the tracked sessions, finished logout events (with their deliveries), "
        "session index entries and received signals past their retention (what the "
        "logout_sso.purge task does on a schedule)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, dry_run: bool, **options: Any) -> None:
        self.report(purge(dry_run=dry_run), dry_run=dry_run, as_json=options["json"])

    def report(self, report: PurgeReport, *, dry_run: bool, as_json: bool) -> None:
        counts = report.as_dict()
        if as_json:
            self.stdout.write(json.dumps(counts))
            return
        listed = ", ".join(
            f"{count} {KINDS[kind][0] if count == 1 else KINDS[kind][1]}"
            for kind, count in counts.items()
        )
        self.stdout.write(f"{'Would purge' if dry_run else 'Purged'}: {listed}.")
