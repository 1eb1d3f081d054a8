"""``manage.py logout_sso_retry``: send failed back-channel logouts again, once the
application's problem is fixed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from logout_sso import api
from logout_sso.internal.commands import OperatorCommand
from logout_sso.models import LogoutEvent


class Command(OperatorCommand):
    help = (
        "Send the failed back-channel logouts again (the Celery workers send them), once the\n"
        "application's problem is fixed: all of them, or those of an organization's logouts\n"
        "(--organization), or those to an application (--application)."
    )
    epilog = """\
exit codes:
  0  the failed deliveries were queued again (none: said so)
  2  bad arguments: an unknown organization or client id

examples:
  python manage.py logout_sso_retry
  python manage.py logout_sso_retry --organization acme --application wiki --json
"""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--organization", metavar="SLUG", help="Only the logouts of this organization."
        )
        parser.add_argument(
            "--application",
            metavar="CLIENT_ID",
            help="Only the failed deliveries to this application.",
        )
        self.add_json_argument(parser, '{"queued": N, "organization": ..., "application": ...}')

    def handle(
        self, *args: Any, organization: str | None, application: str | None, **options: Any
    ) -> None:
        events = LogoutEvent.objects.all()
        if organization:
            events = events.filter(organization=self.organization(organization))
        to = self.application(application) if application else None
        queued = api.retry_failed_deliveries(events, application=to)
        self.emit(
            {"queued": queued, "organization": organization, "application": application},
            [
                f"{queued} failed deliver{'y' if queued == 1 else 'ies'} queued again."
                if queued
                else "Nothing to do: no failed delivery."
            ],
            as_json=options["json"],
        )
