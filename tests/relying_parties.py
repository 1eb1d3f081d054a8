"""Relying parties for the interop tests: the example project run as a real server process.

:func:`example_site` migrates and seeds a fresh SQLite database, then runs ``manage.py
runserver`` configured by environment variables alone (as an operator would), finding the
OpenID provider by discovery.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.services import REPO_ROOT, wait_for

START_SECONDS = 60.0
#: Inherited variables that would configure the example project (by prefix): the example
#: project's tests remove them, and each test sets its own.
CONFIG_PREFIXES = (
    "DJANGO_",
    "OIDC_",
    "LOGOUT_SSO_",
    "REDIS_URL",
    "DATABASE_URL",
    "EXAMPLE_",
    "CELERY_",
)


@dataclass(frozen=True)
class Site:
    url: str
    client_id: str
    process: subprocess.Popen[bytes]
    log: Path


def _environment(workdir: Path, extra: dict[str, str]) -> dict[str, str]:
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "OIDC_", "LOGOUT_SSO_", "CELERY_"))
        and name not in {"DATABASE_URL", "REDIS_URL"}
    }
    return {
        **inherited,
        "DATABASE_URL": f"sqlite:///{workdir / 'site.sqlite3'}",
        "EXAMPLE_VAR_DIR": str(workdir),
        **extra,
    }


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


@contextmanager
def example_site(
    workdir: Path, port: int, *, issuer: str, client_id: str, client_secret: str
) -> Iterator[Site]:
    """The example project at ``http://127.0.0.1:<port>``, signing users in at ``issuer``."""
    env = _environment(
        workdir,
        {
            "OIDC_OP_ISSUER": issuer,
            "OIDC_RP_CLIENT_ID": client_id,
            "OIDC_RP_CLIENT_SECRET": client_secret,
            "DJANGO_SESSION_COOKIE_NAME": f"session_{client_id}",
            "DJANGO_CSRF_COOKIE_NAME": f"csrf_{client_id}",
        },
    )
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        subprocess.run(
            manage + command, cwd=REPO_ROOT, env=env, check=True, capture_output=True, timeout=120
        )
    log = workdir / "runserver.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=REPO_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def started() -> bool:
        if process.poll() is not None:
            pytest.fail(f"The example site exited:\n{log.read_text()}", pytrace=False)
        return _answers(f"{url}/me/")

    try:
        wait_for(started, START_SECONDS, f"the example site on port {port} did not answer")
        yield Site(url=url, client_id=client_id, process=process, log=log)
    finally:
        process.terminate()
        process.wait(timeout=20)
