"""The demo's processes for the example project's tests: started as ``run_demo`` starts them,
each in a process group of its own, stopped with their children however a test ends; a
``manage.py shell`` as one of the demo's sites, and a sign-in there."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from example_project import topology
from example_project.runner import Service
from example_project.topology import Site
from tests.services import wait_for

DEADLINE_SECONDS = 30.0
GRACE_SECONDS = 10.0


# Run by ``manage.py shell`` as a site: what its OpenID Connect callback does on a sign-in (a
# session, indexed, then ``signed_in``, on which client mode queues the registration at the hub
# for the site's worker). Prints the session key.
SIGN_IN = """
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from logout_sso.models import Organization
from logout_sso.rp.internal.state import SignedIn, now
from logout_sso.internal.session_index import index_session
from logout_sso.signals import signed_in
user, _created = User.objects.get_or_create(
    username=USERNAME, defaults={"email": SUB if "@" in SUB else ""}
)
identity = {
    "issuer": ISSUER,
    "sub": SUB,
    "sid": SID,
    "organization_id": Organization.objects.get(slug=ORGANIZATION).pk,
}
session = import_module(settings.SESSION_ENGINE).SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
SignedIn(id_token="", checked_at=now(), **identity).save(session)
session.create()
index_session(session.session_key, **identity)
signed_in.send(sender=None, request=None, session_key=session.session_key, **identity)
print(session.session_key)
"""
#: The organizations a site mirrors from the hub.
MIRRORED = """
from logout_sso.models import Organization
print(sorted(Organization.objects.exclude(hub_id=None).values_list("slug", flat=True)))
"""


def sign_in(
    site_env: Mapping[str, str], *, organization: str, sub: str, username: str = "", sid: str = ""
) -> tuple[str, str]:
    """A sign-in at the site of ``site_env``, through the provider of the demo, of user
    ``username`` (default: ``sub``): its session key, and what the process wrote on stderr
    (its log)."""
    constants = {
        "ISSUER": topology.PROVIDER_ISSUER,
        "ORGANIZATION": organization,
        "SUB": sub,
        "SID": sid or f"sid-{sub}",
        "USERNAME": username or sub,
    }
    code = "".join(f"{name} = {value!r}\n" for name, value in constants.items()) + SIGN_IN
    result = topology.manage(site_env, "shell", "-c", code)
    return result.stdout.strip().splitlines()[-1], result.stderr


def shell(site_env: Mapping[str, str], code: str) -> str:
    """The last line ``code`` printed, run by ``manage.py shell`` with ``site_env``."""
    result = topology.manage(site_env, "shell", "-c", code, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@dataclass
class RunningDemo:
    """The demo's processes, started; their output in ``log_dir``."""

    processes: dict[str, subprocess.Popen[bytes]]
    log_dir: Path

    def wait_for(self, predicate: Callable[[], Any], message: str) -> Any:
        """``wait_for``, failing at once (with its output) when a process exited."""

        def alive_and() -> Any:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    output = (self.log_dir / f"{name}.log").read_text(errors="replace")
                    pytest.fail(
                        f"{name} exited with status {process.returncode}:\n{output[-3000:]}",
                        pytrace=False,
                    )
            return predicate()

        return wait_for(alive_and, DEADLINE_SECONDS, message)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Stop processes, each with its whole group (a Celery worker's pool): SIGTERM, then
    SIGKILL for whatever is left after the grace period."""
    for process in processes:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for process in processes:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def running(services: list[Service], log_dir: Path) -> Iterator[RunningDemo]:
    """``services`` started as run_demo's runner starts them, each in a process group of its
    own; stopped, with their children, however the test ends."""
    log_dir.mkdir()
    processes: dict[str, subprocess.Popen[bytes]] = {}
    with ExitStack() as stack:
        stack.callback(lambda: stop(list(processes.values())))
        for service in services:
            log = stack.enter_context((log_dir / f"{service.name}.log").open("wb"))
            processes[service.name] = subprocess.Popen(
                service.command,
                cwd=topology.REPO_ROOT,
                env={**os.environ, **service.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        yield RunningDemo(processes, log_dir)


def answers(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return requests.get(url, timeout=2).ok
        except requests.ConnectionError:
            return False

    return check


def prepare(var_dir: Path, wiki: Site, billing: Site) -> str:
    """What ``make demo`` and run_demo do before starting the processes, with Billing's URI at
    the hub on its port of the test; returns Billing's credential at the hub."""
    main = wiki.environment(var_dir, with_provider=False)
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        topology.manage(main, *command)
    topology.manage(
        main,
        "shell",
        "-c",
        "from logout_sso.models import Application; "
        "Application.objects.filter(client_id='billing')"
        f".update(backchannel_logout_uri={billing.url + '/sso/backchannel-logout/'!r})",
    )
    topology.prepare_databases(var_dir)
    return topology.issue_credential(var_dir, wiki, billing)
