"""``manage.py logout_sso_application add|rotate|disable``: applications of the hub, by script."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from logout_sso import api
from logout_sso.models import Application


class Command(BaseCommand):
    help = (
        "Register an application with the hub (add), issue it a new API credential (rotate) "
        "or disable it. The credential is printed once, never stored in clear."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        add = commands.add_parser("add", help="Register an application.")
        add.add_argument("--name", required=True)
        add.add_argument("--client-id", required=True)
        add.add_argument("--backchannel-logout-uri", required=True)
        add.add_argument(
            "--organization",
            action="append",
            required=True,
            dest="organizations",
            help="Slug of an organization it serves (repeat for several).",
        )
        add.add_argument("--requires-sid", action="store_true")
        for name, description in (
            ("rotate", "Issue a new API credential (the old one stops working)."),
            ("disable", "Stop the application's API access and its deliveries."),
        ):
            command = commands.add_parser(name, help=description)
            command.add_argument("--client-id", required=True)
        for command in commands.choices.values():
            command.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            credential: str | None = None
            if action == "add":
                application, credential = api.add_application(
                    name=options["name"],
                    client_id=options["client_id"],
                    backchannel_logout_uri=options["backchannel_logout_uri"],
                    organization_slugs=options["organizations"],
                    requires_sid=options["requires_sid"],
                )
            elif action == "rotate":
                application, credential = api.rotate_application_credential(options["client_id"])
            else:
                application = api.disable_application(options["client_id"])
        except api.RegistrationError as exc:
            raise CommandError(str(exc)) from exc
        self.report(application, credential, as_json=options["json"], action=action)

    def report(
        self, application: Application, credential: str | None, *, as_json: bool, action: str
    ) -> None:
        if as_json:
            payload: dict[str, Any] = {
                "name": application.name,
                "client_id": application.client_id,
                "enabled": application.enabled,
                "organizations": sorted(o.slug for o in application.organizations.all()),
            }
            if credential:
                payload["credential"] = credential
            self.stdout.write(json.dumps(payload))
            return
        done = {"add": "registered", "rotate": "given a new credential", "disable": "disabled"}
        self.stdout.write(
            f"Application {application.name} ({application.client_id}) {done[action]}."
        )
        if credential:
            self.stdout.write(f"API credential (shown once, store it now): {credential}")
