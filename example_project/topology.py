"""The demo's processes: an OpenID provider, the example project as two applications, a worker.

- The OpenID provider: node-oidc-provider (the OpenID-certified provider, pinned in
  ``tests/op``; the tests use the same one) on 127.0.0.1:9000, with a development login form
  where any user name works. Started when Node.js and its packages are there.
- "Wiki" on 127.0.0.1:8000 (the main database, the admin) and "Billing" on 127.0.0.1:8001 (a
  database of its own): the example project twice, two client ids, separate session cookies.
- A Celery worker with the beat scheduler, on the main database.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from example_project.runner import Service

REPO_ROOT = Path(__file__).resolve().parent.parent
PROVIDER_DIR = REPO_ROOT / "tests" / "op"
PROVIDER_PORT = 9000
PROVIDER_ISSUER = f"http://127.0.0.1:{PROVIDER_PORT}"


@dataclass(frozen=True)
class Site:
    """One application of the demo: the example project as one OpenID Connect client."""

    client_id: str
    port: int
    database: str | None  # None: the main database (DATABASE_URL, or var/example.sqlite3)
    backchannel: bool  # Registered for the provider's back-channel logout calls.

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self, var_dir: Path, *, with_provider: bool) -> dict[str, str]:
        env = {
            "DJANGO_SESSION_COOKIE_NAME": f"{self.client_id}_session",
            "DJANGO_CSRF_COOKIE_NAME": f"{self.client_id}_csrftoken",
        }
        if self.database:
            env["DATABASE_URL"] = f"sqlite:///{var_dir / self.database}"
        if with_provider:
            env |= {
                "OIDC_OP_ISSUER": PROVIDER_ISSUER,
                "OIDC_RP_CLIENT_ID": self.client_id,
                "OIDC_RP_CLIENT_SECRET": f"{self.client_id}-demo-secret",
            }
        return env

    def provider_client(self) -> dict[str, object]:
        """This site's registration at the demo's provider."""
        client: dict[str, object] = {
            "client_id": self.client_id,
            "client_secret": f"{self.client_id}-demo-secret",
            "redirect_uris": [f"{self.url}/sso/callback/"],
            "post_logout_redirect_uris": [f"{self.url}/"],
            "token_endpoint_auth_method": "client_secret_post",
        }
        if self.backchannel:
            client["backchannel_logout_uri"] = f"{self.url}/sso/backchannel-logout/"
            client["backchannel_logout_session_required"] = True
        return client


# Wiki relies on short-lived sessions alone; Billing also receives back-channel logouts.
SITES = (
    Site("wiki", 8000, None, backchannel=False),
    Site("billing", 8001, "billing.sqlite3", backchannel=True),
)


def provider_available() -> bool:
    """Node.js and the provider's packages (``npm ci`` in tests/op, done by ``make demo``)."""
    return bool(shutil.which("node")) and (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir()


def _provider_answers() -> bool:
    try:
        return requests.get(f"{PROVIDER_ISSUER}/.well-known/openid-configuration", timeout=1).ok
    except requests.RequestException:
        return False


def prepare_databases(var_dir: Path) -> None:
    """Migrate and seed every site's own database (the main one is done by ``make demo``)."""
    for site in SITES:
        if site.database:
            env = site.environment(var_dir, with_provider=False)
            for command in (["migrate", "--noinput"], ["seed_demo"]):
                subprocess.run(
                    [sys.executable, "manage.py", *command],
                    cwd=REPO_ROOT,
                    env={**os.environ, **env},
                    check=True,
                    capture_output=True,
                )


def services(var_dir: Path, *, with_provider: bool) -> list[Service]:
    python = sys.executable
    processes = []
    if with_provider:
        processes.append(
            Service(
                "provider",
                ["node", str(PROVIDER_DIR / "server.js")],
                env={
                    "OP_PORT": str(PROVIDER_PORT),
                    "OP_CLIENTS": json.dumps([site.provider_client() for site in SITES]),
                },
                ready=_provider_answers,
            )
        )
    for site in SITES:
        processes.append(
            Service(
                site.client_id,
                [python, "manage.py", "runserver", f"127.0.0.1:{site.port}", "--noreload"],
                env=site.environment(var_dir, with_provider=with_provider),
            )
        )
    processes.append(
        Service(
            "worker",
            [
                python, "-m", "celery", "--app", "example_project", "worker", "--beat",
                "--schedule", str(var_dir / "celerybeat-schedule"),
                "--loglevel", "INFO", "--concurrency", "2",
            ],
        )
    )  # fmt: skip
    return processes
