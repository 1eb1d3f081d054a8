from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from example_project import env, topology
from example_project.runner import Runner


class Command(BaseCommand):
    help = (
        "Run the demo until Ctrl-C: an OpenID provider (when Node.js is there), the example "
        "project as two applications, Wiki (also the logout service, the hub) and Billing (a "
        "client of the hub, with a new API credential at each start), and a Celery worker for "
        "each."
    )
    requires_system_checks = []

    def handle(self, *args: Any, **options: Any) -> None:
        with_provider = topology.provider_available()
        var_dir = env.var_dir(os.environ)
        topology.prepare_databases(var_dir)
        wiki, billing = topology.SITES
        try:
            credential = topology.issue_credential(var_dir, wiki, billing)
        except topology.SetupFailed as exc:
            raise CommandError(str(exc)) from exc
        lines = [
            self.style.SUCCESS("logout_sso demo is starting."),
            f"  Wiki:    {wiki.url}/      (admin: {wiki.url}/admin/, users printed above)",
            f"           and the logout service (hub): {wiki.sso_url} (keys: {wiki.sso_url}jwks/)",
            f"  Billing: {billing.url}/      (a client of the hub)",
        ]
        if with_provider:
            lines.append(
                f"  OpenID provider: {topology.PROVIDER_ISSUER}/ (any user name signs in, e.g. "
                "alice@acme.example or bob@globex.example; the password is ignored)"
            )
        else:
            lines.append(
                self.style.WARNING(
                    "  Node.js (or `npm ci` in tests/op) is missing: running without the OpenID "
                    "provider, so only the admin's password sign-in works."
                )
            )
        lines.append("Press Ctrl-C to stop everything.")
        self.stdout.write("\n".join(lines))
        status = Runner(
            topology.services(var_dir, with_provider=with_provider, credential=credential),
            log=self.stderr.write,
        ).run()
        if status:
            raise SystemExit(status)
