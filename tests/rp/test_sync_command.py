"""``manage.py logout_sso_sync``: its output, ``--json``, ``--force`` and its exit codes, the last
as an operator's script sees them (a ``manage.py`` process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from logout_sso.models import Organization
from tests.scripted_hub import ScriptedHub, hub_organization
from tests.services import REPO_ROOT, database_name


def sync(*args: str) -> str:
    out = StringIO()
    call_command("logout_sso_sync", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_prints_what_it_did(scripted_hub):
    scripted_hub.organizations = [hub_organization(7, "acme"), hub_organization(9, "globex")]

    first, second = sync(), sync()

    hub = scripted_hub.api_url
    assert first == f"In sync with {hub}: 2 created, 0 updated, 0 removed, 0 unchanged.\n"
    assert second == f"In sync with {hub}: not modified since the last sync (2 organizations).\n"


@pytest.mark.django_db
def test_json_and_force(scripted_hub):
    scripted_hub.organizations = [hub_organization(7, "acme")]
    sync()

    printed = json.loads(sync("--json", "--force"))

    assert printed == {
        "hub_url": scripted_hub.api_url,
        "created": 0,
        "updated": 0,
        "removed": 0,
        "unchanged": 1,
        "not_modified": False,
        "error": "",
    }
    assert scripted_hub.if_none_match[-1] == ""


@pytest.mark.django_db
def test_a_failed_sync_exits_1_with_the_reason_and_prints_its_json(scripted_hub):
    scripted_hub.organizations = [hub_organization(7, "acme", policy={"session_ttl": 5})]
    out = StringIO()

    with pytest.raises(CommandError) as failed:
        call_command("logout_sso_sync", "--json", stdout=out)

    assert failed.value.returncode == 1
    assert str(failed.value).startswith(f"Sync with {scripted_hub.api_url} failed: ")
    assert "session_ttl" in str(failed.value)
    assert json.loads(out.getvalue())["error"] in str(failed.value)
    assert not Organization.objects.exists()


def test_outside_client_mode_exits_2(settings):
    settings.LOGOUT_SSO = {}

    with pytest.raises(CommandError) as failed:
        sync()

    assert failed.value.returncode == 2
    assert "Not in client mode" in str(failed.value)


# --- As a script runs it ----------------------------------------------------------------------


@pytest.fixture
def run(django_db_blocker: Any) -> Any:
    """``manage.py logout_sso_sync ARGS`` in a process of its own, on the test database, with
    ``LOGOUT_SSO``; returns the finished process."""

    def run(logout_sso: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "LOGOUT_SSO_TEST_DATABASE_NAME": database_name(django_db_blocker),
            "LOGOUT_SSO_TEST_OVERRIDES": json.dumps({"LOGOUT_SSO": logout_sso}),
        }
        return subprocess.run(
            [sys.executable, "-m", "django", "logout_sso_sync", *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


@pytest.mark.django_db(transaction=True)
def test_exit_codes_as_a_script_sees_them(run):
    hub = ScriptedHub()
    hub.organizations = [hub_organization(7, "acme")]
    try:
        synced = run(hub.settings(), "--json")
        failed_hub = ScriptedHub()
        failed_hub.close()
        unreachable = run(failed_hub.settings())
        not_client = run({})
        bad_argument = run(hub.settings(), "--no-such-option")
    finally:
        hub.close()

    assert (synced.returncode, synced.stderr) == (0, "")
    assert json.loads(synced.stdout)["created"] == 1
    assert Organization.objects.get().hub_id == 7
    assert unreachable.returncode == 1
    assert unreachable.stdout == ""
    # The reason in one line, last (the mirror's warning may come first, as logged).
    reason = unreachable.stderr.splitlines()[-1]
    assert reason.startswith(f"CommandError: Sync with {failed_hub.api_url} failed: unreachable: ")
    assert "Traceback" not in unreachable.stderr
    assert not_client.returncode == 2
    assert not_client.stderr.splitlines() == [
        "CommandError: Not in client mode: set LOGOUT_SSO['HUB_URL'] and ['HUB_API_CREDENTIAL']."
    ]
    assert bad_argument.returncode == 2
    assert "unrecognized arguments: --no-such-option" in bad_argument.stderr


def test_help_says_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        call_command("logout_sso_sync", "--help")

    printed = capsys.readouterr().out
    assert "  1  the sync failed, nothing changed" in printed
    assert "--force" in printed
