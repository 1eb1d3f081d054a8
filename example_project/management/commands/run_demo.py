from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from example_project.runner import Runner, demo_services


class Command(BaseCommand):
    help = "Run the demo: the web server and a Celery worker together, until Ctrl-C."
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--address", default="127.0.0.1:8000", help="host:port to serve")

    def handle(self, *args: Any, address: str, **options: Any) -> None:
        base = f"http://{address}"
        self.stdout.write(
            self.style.SUCCESS("logout_sso demo is starting.")
            + f"\n  Home:  {base}/\n  Admin: {base}/admin/  (users printed by seed_demo)"
            + f"\n  /me/:  {base}/me/\nPress Ctrl-C to stop the web server and the worker."
        )
        status = Runner(demo_services(address), log=self.stderr.write).run()
        if status:
            raise SystemExit(status)
