"""The demo's processes: an OpenID provider, the example project as two applications (one of
them the logout service), a Celery worker for each.

- The OpenID provider: node-oidc-provider (the OpenID-certified provider, pinned in
  ``tests/op``; the tests use the same one) on 127.0.0.1:9000, with a development login form
  where any user name works. Started when Node.js and its packages are there.
- "Wiki" on 127.0.0.1:8000 (the main database, the admin) is also the logout service (hub):
  issuer ``http://127.0.0.1:8000/sso/``, its signing key made once in ``var/hub-signing-key.pem``
  and published at ``/sso/jwks/``, back-channel logouts allowed to loopback addresses.
- "Billing" on 127.0.0.1:8001 (a database of its own, and a var dir of its own for its broker)
  is a client of the hub: it mirrors the organizations and policies the hub serves it (Acme and
  Globex, managed in Wiki's admin), registers its sign-ins at the hub's session API, with a
  credential issued anew at each start and given to its processes only, and trusts the hub's
  logout tokens. Both are the example project (two client ids, separate session cookies).
- Wiki's Celery worker with the beat scheduler, on the main database: it sends the hub's
  back-channel logouts. Billing's worker with a beat scheduler of its own, on Billing's
  database and broker: it calls the hub, and mirrors its policies at start and every
  :data:`DEMO_POLICY_SYNC_INTERVAL` seconds.

Wiki starts first; the rest once it answers, so that Billing's first sync finds the hub.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from example_project.env import BULK_QUEUE
from example_project.runner import Service

REPO_ROOT = Path(__file__).resolve().parent.parent
PROVIDER_DIR = REPO_ROOT / "tests" / "op"
PROVIDER_PORT = 9000
PROVIDER_ISSUER = f"http://127.0.0.1:{PROVIDER_PORT}"
HUB_SIGNING_KEY_FILE = "hub-signing-key.pem"
#: Billing mirrors the hub's policies this often (the default is 60 s): a change made in Wiki's
#: admin shows in Billing within it.
DEMO_POLICY_SYNC_INTERVAL = 10
BEAT_SCHEDULE_FILE = "celerybeat-schedule"


class SetupFailed(Exception):
    """A step before the demo's processes start failed; the message says which and why."""


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

    @property
    def sso_url(self) -> str:
        """Where the example project mounts logout_sso's URLs."""
        return f"{self.url}/sso/"

    def environment(self, var_dir: Path, *, with_provider: bool) -> dict[str, str]:
        """The variables that make the example project this site. A site with a database of
        its own also has a var dir of its own, hence a broker of its own: its worker must run
        its tasks with its settings, never take the other site's."""
        env = {
            "EXAMPLE_SITE_NAME": self.client_id.capitalize(),
            "DJANGO_SESSION_COOKIE_NAME": f"{self.client_id}_session",
            "DJANGO_CSRF_COOKIE_NAME": f"{self.client_id}_csrftoken",
        }
        if self.database:
            env["DATABASE_URL"] = f"sqlite:///{var_dir / self.database}"
            env["EXAMPLE_VAR_DIR"] = str(var_dir / self.client_id)
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


# The hub first, then its client. Wiki relies on short-lived sessions (it runs the hub but
# registers no sessions of its own there); Billing also receives the provider's back-channel
# logouts.
SITES = (
    Site("wiki", 8000, None, backchannel=False),
    Site("billing", 8001, "billing.sqlite3", backchannel=True),
)


def provider_available() -> bool:
    """Node.js and the provider's packages (``npm ci`` in tests/op, done by ``make demo``)."""
    return bool(shutil.which("node")) and (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


def _provider_answers() -> bool:
    return _answers(f"{PROVIDER_ISSUER}/.well-known/openid-configuration")


def manage(
    env: Mapping[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``manage.py`` with this process's environment plus ``env``; its output captured."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        check=check,
        capture_output=True,
        text=True,
    )


def prepare_databases(var_dir: Path) -> None:
    """Migrate and seed every site's own database (the main one is done by ``make demo``)."""
    for site in SITES:
        if site.database:
            env = site.environment(var_dir, with_provider=False)
            for command in (["migrate", "--noinput"], ["seed_demo"]):
                manage(env, *command)


def _new_signing_key() -> str:
    """A private key for the hub: RSA 2048 (RS256), PKCS #8, unencrypted PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def hub_signing_key(var_dir: Path) -> str:
    """The hub's private key, made on the first run and kept in the var dir, readable by its
    owner only (created with mode 0600, never overwritten); never printed."""
    path = var_dir / HUB_SIGNING_KEY_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text()
    pem = _new_signing_key()
    with os.fdopen(descriptor, "w") as key_file:
        key_file.write(pem)
    return pem


def issue_credential(var_dir: Path, hub: Site, client: Site) -> str:
    """A new API credential of ``client`` at ``hub`` (the old one stops working). The hub keeps
    only its digest, so each start issues one; it goes to the client's processes only."""
    result = manage(
        hub.environment(var_dir, with_provider=False),
        *("logout_sso_application", "rotate", "--client-id", client.client_id, "--json"),
        check=False,
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no reason given"])[-1]
        raise SetupFailed(
            f"Cannot issue {client.client_id} a credential at the hub ({reason}); "
            "did `python manage.py seed_demo` run on the main database?"
        )
    credential: str = json.loads(result.stdout.strip().splitlines()[-1])["credential"]
    return credential


def hub_environment(hub: Site, signing_key: str) -> dict[str, str]:
    """What makes ``hub`` the logout service. Every demo application is on loopback, where a
    hub otherwise refuses to deliver."""
    return {
        "LOGOUT_SSO_HUB_ISSUER": json.dumps(hub.sso_url),
        "LOGOUT_SSO_HUB_SIGNING_KEY": json.dumps(signing_key),
        "LOGOUT_SSO_DELIVERY_ALLOW_PRIVATE_ADDRESSES": "true",
    }


def client_environment(hub: Site, client: Site, credential: str) -> dict[str, str]:
    """What makes ``client`` an application of ``hub``: its session API and credential, and
    trust in its logout tokens, which name the provider's users and sessions."""
    trusted_hub = {
        "issuer": hub.sso_url,
        "jwks_uri": f"{hub.sso_url}jwks/",
        "audience": client.client_id,
        "subject_issuer": PROVIDER_ISSUER,
    }
    return {
        "LOGOUT_SSO_HUB_URL": json.dumps(f"{hub.sso_url}api/"),
        "LOGOUT_SSO_HUB_API_CREDENTIAL": json.dumps(credential),
        "LOGOUT_SSO_TRUSTED_ISSUERS": json.dumps([trusted_hub]),
        "LOGOUT_SSO_POLICY_SYNC_INTERVAL": json.dumps(DEMO_POLICY_SYNC_INTERVAL),
    }


def metrics_environment(var_dir: Path, site: Site) -> dict[str, str]:
    """``PROMETHEUS_MULTIPROC_DIR`` for ``site``'s web process and worker, emptied now (the
    counters of an earlier run would be added to this one's): its ``/metrics/`` shows what
    the worker counted too."""
    directory = var_dir / "prometheus" / site.client_id
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return {"PROMETHEUS_MULTIPROC_DIR": str(directory)}


def _provider(sites: tuple[Site, Site]) -> Service:
    return Service(
        "provider",
        ["node", str(PROVIDER_DIR / "server.js")],
        env={
            "OP_PORT": str(PROVIDER_PORT),
            "OP_CLIENTS": json.dumps([site.provider_client() for site in sites]),
        },
        ready=_provider_answers,
    )


def _worker(site: Site, env: dict[str, str], *options: str) -> Service:
    """A Celery worker with ``site``'s settings (its database, its broker)."""
    return Service(
        f"{site.client_id}-worker",
        [
            sys.executable, "-m", "celery", "--app", "example_project", "worker",
            "--hostname", f"{site.client_id}@%h", "--loglevel", "INFO", *options,
        ],
        env=env,
    )  # fmt: skip


def services(
    var_dir: Path, *, with_provider: bool, credential: str, sites: tuple[Site, Site] = SITES
) -> list[Service]:
    """The demo's processes. ``sites``: the hub, then its client, whose API credential at the
    hub is ``credential``."""
    hub, client = sites
    hub_env = (
        hub.environment(var_dir, with_provider=with_provider)
        | hub_environment(hub, hub_signing_key(var_dir))
        | metrics_environment(var_dir, hub)
    )
    client_env = (
        client.environment(var_dir, with_provider=with_provider)
        | client_environment(hub, client, credential)
        | metrics_environment(var_dir, client)
    )
    processes = [_provider(sites)] if with_provider else []
    for site, env in ((hub, hub_env), (client, client_env)):
        processes.append(
            Service(
                site.client_id,
                [sys.executable, "manage.py", "runserver", f"127.0.0.1:{site.port}", "--noreload"],
                env=env,
                ready=(lambda: _answers(f"{hub.sso_url}jwks/")) if site is hub else None,
            )
        )
    # One worker takes both the hub's queues here; production gives the bulk queue (the
    # organization-wide logouts) workers of its own (docs: deployment).
    queues = ("--queues", f"celery,{BULK_QUEUE}")
    processes.append(_worker(hub, hub_env, *_beat(var_dir), *queues, "--concurrency", "2"))
    client_var_dir = Path(client_env.get("EXAMPLE_VAR_DIR", var_dir))
    processes.append(_worker(client, client_env, *_beat(client_var_dir), "--concurrency", "1"))
    return processes


def _beat(var_dir: Path) -> tuple[str, ...]:
    """A worker's options to run the beat scheduler too, its schedule kept in ``var_dir``."""
    return ("--beat", "--schedule", str(var_dir / BEAT_SCHEDULE_FILE))
