"""``manage.py logout_sso_signals configuration|stream|status|verify|delete``: an organization's
Shared Signals source and its stream at the transmitter, by script (what the admin's actions
do)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from logout_sso.inbound.internal import streams
from logout_sso.inbound.internal.endpoints import NoPublicURL, events_endpoint_url
from logout_sso.inbound.internal.transmitter import TransmitterError
from logout_sso.internal.commands import ExitCode, OperatorCommand
from logout_sso.models import SignalSource
from logout_sso.models.signal_sources import DeliveryMethod, SignalKind

OPERATIONS = {
    "configuration": "Fetch the transmitter's configuration again and show it.",
    "stream": (
        "Create the stream, or update it (delivery and events requested) when the source has "
        "one. Push streams need LOGOUT_SSO['PUBLIC_URL']."
    ),
    "status": "Read the stream's status (enabled, paused, disabled).",
    "verify": "Ask the transmitter for a verification event (a new random state).",
    "delete": "Delete the stream at the transmitter.",
}


class Command(OperatorCommand):
    help = (
        "Manage the stream of an organization's Shared Signals source at its transmitter\n"
        "(OpenID Shared Signals Framework 1.0): fetch its configuration, create or update the\n"
        "stream, read its status, request a verification event, delete it. What the\n"
        "transmitter answers is kept on the source, as the admin's actions do."
    )
    epilog = """\
exit codes:
  0  done (warnings, such as events the transmitter does not deliver, on stderr)
  1  the transmitter could not be reached, refused or answered what it must not (the
     reason on stderr, also kept as the source's last error)
  2  bad arguments: unknown organization or source, not a Shared Signals source, or a
     push stream without LOGOUT_SSO['PUBLIC_URL']

examples:
  python manage.py logout_sso_signals stream --organization acme --source Okta
  python manage.py logout_sso_signals status --organization acme --source Okta --json
"""

    def add_arguments(self, parser: CommandParser) -> None:
        operations = parser.add_subparsers(dest="operation", required=True)
        for name, description in OPERATIONS.items():
            command = operations.add_parser(name, help=description, description=description)
            command.add_argument("--organization", required=True, help="The organization's slug.")
            command.add_argument("--source", required=True, help="The source's name.")
            self.add_json_argument(
                command,
                '{"organization": ..., "source": ..., "operation": ..., "ok": BOOL, '
                '"message": ..., "warnings": [...], "stream_id": ..., "stream_status": ..., '
                '"details": {...}}',
            )

    def handle(self, *args: Any, operation: str, **options: Any) -> None:
        source = self.source(options["organization"], options["source"])
        try:
            events_url: str | None = events_endpoint_url(source.organization)
        except NoPublicURL as exc:
            if operation == "stream" and source.delivery_method == DeliveryMethod.PUSH:
                self.fail(str(exc))
            events_url = None
        try:
            report = streams.OPERATIONS[operation](source, events_url)
        except TransmitterError as exc:
            self.emit(self.payload(source, operation, str(exc)), [], as_json=options["json"])
            self.fail(str(exc), ExitCode.FAILED)
        payload = {**self.payload(source, operation, report.message), "ok": True}
        payload.update(warnings=list(report.warnings), details=report.details)
        self.emit(payload, [report.message], as_json=options["json"])
        for warning in report.warnings:
            self.stderr.write(f"Warning: {warning}")

    def source(self, slug: str, name: str) -> SignalSource:
        organization = self.organization(slug)
        source = (
            SignalSource.objects.select_related("organization")
            .filter(organization=organization, name=name)
            .first()
        )
        if source is None:
            self.fail(f"Organization {slug!r} has no signal source named {name!r}.")
        if source.kind != SignalKind.SHARED_SIGNALS:
            self.fail(f"{name!r} is a Universal Logout source: it has no stream.")
        return source

    @staticmethod
    def payload(source: SignalSource, operation: str, message: str) -> dict[str, Any]:
        return {
            "organization": source.organization.slug,
            "source": source.name,
            "operation": operation,
            "ok": False,
            "message": message,
            "warnings": [],
            "stream_id": source.stream_id,
            "stream_status": source.stream_status,
            "details": {},
        }
