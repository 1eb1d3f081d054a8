from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from example_project.demo import seed


class Command(BaseCommand):
    help = (
        "Create the demo's organizations (acme, globex), applications and admin users. "
        "Idempotent: run it again at will."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = seed()
        self.stdout.write("Organizations: acme (short-lived tokens, TTL 300 s, not federated),")
        self.stdout.write("               globex (logout service, federated).")
        self.stdout.write("Users (sign in at /admin/):")
        for username, password in report.users:
            self.stdout.write(f"  {username} / {password}")
        self.stdout.write("Application API credentials:")
        for name, credential in report.credentials.items():
            shown = credential or "unchanged since the first seed (issue a new one in the admin)"
            self.stdout.write(f"  {name}: {shown}")
