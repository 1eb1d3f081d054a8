"""The example project: its environment-variable configuration, seed_demo, its pages, run_demo.

``example_project.env`` is tested as plain functions (discovery against a real local HTTP
server); the real settings module and the management commands are run in subprocesses, the way
an operator runs them, on a SQLite file of their own.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured

from example_project import env, runner
from example_project.demo import seed
from example_project.runner import Runner, Service
from logout_sso.models import LogoutPolicy, Organization
from tests.loopback import IncomingRequest, LoopbackServer, Reply, json_reply
from tests.relying_parties import CONFIG_PREFIXES
from tests.services import REPO_ROOT, free_port, wait_for

SUBPROCESS_TIMEOUT = 120
STARTUP_SECONDS = 30.0
REDIS_URL = "redis://127.0.0.1:6379/15"
TRUSTED_ISSUERS = [{"issuer": "https://idp.example.com/", "audience": "crm-client"}]
OIDC_ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "https://idp.example.com/authorize",
    "OIDC_OP_TOKEN_ENDPOINT": "https://idp.example.com/token",
    "OIDC_OP_USER_ENDPOINT": "https://idp.example.com/userinfo",
    "OIDC_OP_JWKS_ENDPOINT": "https://idp.example.com/jwks",
}
OIDC_BACKEND = "logout_sso.rp.backend.OrganizationOIDCBackend"
PRINT_SETTINGS = (
    "import json; from django.conf import settings as s; "
    "print(json.dumps({n: getattr(s, n) for n in dir(s) if n.isupper()}, default=str))"
)
PRINT_DEMO_DATA = """
import json
from django.contrib.auth.models import User
from logout_sso.models import Application, Organization
print(json.dumps({
    "organizations": {
        o.slug: {
            "slo_mode": o.logout_policy.slo_mode,
            "session_ttl": o.logout_policy.session_ttl,
            "federated_logout": o.logout_policy.federated_logout,
        }
        for o in Organization.objects.select_related("logout_policy")
    },
    "applications": sorted(Application.objects.values_list("client_id", flat=True)),
    "users": sorted(User.objects.values_list("username", flat=True)),
    "administered": {
        u.username: sorted(u.logout_sso_organizations.values_list("slug", flat=True))
        for u in User.objects.all()
    },
}))
"""


# --- Helpers: the example project as an operator runs it ------------------------------------------


def operator_env(var_dir: Path, **variables: str) -> dict[str, str]:
    """This process's environment without any example-project configuration, plus a var dir
    and a SQLite file of the test's own, plus ``variables``."""
    environ = {
        name: value for name, value in os.environ.items() if not name.startswith(CONFIG_PREFIXES)
    }
    environ["EXAMPLE_VAR_DIR"] = str(var_dir)
    environ["DATABASE_URL"] = f"sqlite:///{var_dir / 'x.sqlite3'}"
    environ.update(variables)
    return environ


def manage(var_dir: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=operator_env(var_dir, **variables),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )


def shell_json(var_dir: Path, code: str, **variables: str) -> Any:
    """What ``code`` run by ``manage.py shell -c`` printed as JSON on its last line."""
    result = manage(var_dir, "shell", "-c", code, **variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def project_settings(var_dir: Path, **variables: str) -> dict[str, Any]:
    """The example project's settings, as the real settings module computes them."""
    values: dict[str, Any] = shell_json(var_dir, PRINT_SETTINGS, **variables)
    return values


# --- A real OpenID provider's discovery endpoint ----------------------------------------------


@dataclass
class Provider:
    """What the local discovery server answers; tests change it before calling discovery."""

    issuer: str
    status: int = 200
    document: Any = field(default_factory=dict)


@pytest.fixture
def provider() -> Iterator[Provider]:
    """An HTTP server on 127.0.0.1 serving a discovery document for its own URL."""
    provider = Provider(issuer="")

    def respond(request: IncomingRequest) -> Reply:
        if request.path != "/.well-known/openid-configuration":
            return Reply(status=404)
        return json_reply(provider.document, provider.status)

    with LoopbackServer(respond) as server:
        issuer = provider.issuer = server.url
        provider.document = {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "userinfo_endpoint": f"{issuer}/userinfo",
            "jwks_uri": f"{issuer}/jwks",
        }
        yield provider


# --- env.cache_and_broker_settings ------------------------------------------------------------


def test_redis_url_gives_redis_cache_sessions_and_broker(tmp_path):
    services = env.cache_and_broker_settings("redis://127.0.0.1:6379/3", tmp_path)

    assert services["CACHES"]["default"] == {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/3",
    }
    assert services["SESSION_ENGINE"] == "django.contrib.sessions.backends.cache"
    assert services["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/3"
    assert services["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"] > 0


@pytest.mark.parametrize("redis_url", [None, ""])
def test_no_redis_url_gives_database_cache_and_sessions(tmp_path, redis_url):
    services = env.cache_and_broker_settings(redis_url, tmp_path)

    assert services["CACHES"]["default"]["BACKEND"] == (
        "django.core.cache.backends.db.DatabaseCache"
    )
    assert services["SESSION_ENGINE"] == "django.contrib.sessions.backends.db"


@pytest.mark.parametrize("redis_url", [None, ""])
def test_no_redis_url_gives_filesystem_broker_in_var_dir(tmp_path, redis_url):
    services = env.cache_and_broker_settings(redis_url, tmp_path)

    assert services["CELERY_BROKER_URL"] == "filesystem://"
    options = services["CELERY_BROKER_TRANSPORT_OPTIONS"]
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        folder = Path(options[key])
        assert folder.is_dir(), key
        assert folder.is_relative_to(tmp_path), key


# --- env.logout_sso_settings ------------------------------------------------------------------


def test_logout_sso_variable_becomes_its_key_as_json():
    environ = {"LOGOUT_SSO_TRUSTED_ISSUERS": json.dumps(TRUSTED_ISSUERS)}

    assert env.logout_sso_settings(environ) == {"TRUSTED_ISSUERS": TRUSTED_ISSUERS}


def test_logout_sso_settings_ignore_unrelated_variables():
    environ = {"PATH": "/usr/bin", "LOGOUT_SSO": "{}", "OIDC_RP_CLIENT_ID": "crm"}

    assert env.logout_sso_settings(environ) == {}


def test_logout_sso_variable_with_invalid_json_names_the_variable():
    with pytest.raises(ImproperlyConfigured, match="LOGOUT_SSO_TRUSTED_ISSUERS"):
        env.logout_sso_settings({"LOGOUT_SSO_TRUSTED_ISSUERS": "[{issuer: nope}]"})


# --- env.oidc_settings ------------------------------------------------------------------------


def test_the_policy_sync_is_scheduled_in_client_mode_only():
    client = {"HUB_URL": "https://hub.example.com/sso/api/", "HUB_API_CREDENTIAL": "c"}

    assert env.policy_sync_schedule({}) == {}
    assert env.policy_sync_schedule({"HUB_URL": client["HUB_URL"]}) == {}
    assert env.policy_sync_schedule(client) == {
        "logout_sso-sync-policies": {
            "task": "logout_sso.sync_policies",
            "schedule": 60.0,  # logout_sso's default
            "options": {"expires": 60.0},
        }
    }
    [entry] = env.policy_sync_schedule({**client, "POLICY_SYNC_INTERVAL": 15}).values()
    assert entry["schedule"] == 15.0


def test_a_policy_sync_interval_logout_sso_refuses_is_refused_here_too():
    client = {"HUB_URL": "https://hub.example.com/sso/api/", "HUB_API_CREDENTIAL": "c"}

    with pytest.raises(ImproperlyConfigured, match="POLICY_SYNC_INTERVAL"):
        env.policy_sync_schedule({**client, "POLICY_SYNC_INTERVAL": 1})


def test_oidc_string_settings_are_kept_verbatim():
    environ = {"OIDC_RP_CLIENT_ID": "crm", "OIDC_RP_CLIENT_SECRET": "123", "PATH": "/usr/bin"}

    assert env.oidc_settings(environ) == {
        "OIDC_RP_CLIENT_ID": "crm",
        "OIDC_RP_CLIENT_SECRET": "123",
    }


@pytest.mark.parametrize(("word", "expected"), [("false", False), ("0", False), ("TRUE", True)])
def test_oidc_boolean_settings_are_parsed(word, expected):
    assert env.oidc_settings({"OIDC_VERIFY_SSL": word}) == {"OIDC_VERIFY_SSL": expected}


def test_oidc_boolean_setting_that_is_no_boolean_names_the_variable():
    with pytest.raises(ImproperlyConfigured, match="OIDC_VERIFY_SSL"):
        env.oidc_settings({"OIDC_VERIFY_SSL": "maybe"})


def test_oidc_json_settings_are_parsed():
    environ = {
        "OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS": "300",
        "OIDC_AUTH_REQUEST_EXTRA_PARAMS": '{"a": "b"}',
    }

    assert env.oidc_settings(environ) == {
        "OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS": 300,
        "OIDC_AUTH_REQUEST_EXTRA_PARAMS": {"a": "b"},
    }


def test_oidc_json_setting_with_invalid_json_names_the_variable():
    with pytest.raises(ImproperlyConfigured, match="OIDC_TIMEOUT"):
        env.oidc_settings({"OIDC_TIMEOUT": "soon"})


# --- env.oidc_settings: discovery from OIDC_OP_ISSUER ------------------------------------------


def test_discovery_fills_in_the_endpoints(provider):
    values = env.oidc_settings({"OIDC_OP_ISSUER": provider.issuer})

    assert values["OIDC_OP_AUTHORIZATION_ENDPOINT"] == f"{provider.issuer}/authorize"
    assert values["OIDC_OP_TOKEN_ENDPOINT"] == f"{provider.issuer}/token"
    assert values["OIDC_OP_USER_ENDPOINT"] == f"{provider.issuer}/userinfo"
    assert values["OIDC_OP_JWKS_ENDPOINT"] == f"{provider.issuer}/jwks"


def test_explicit_endpoint_wins_over_discovery(provider):
    values = env.oidc_settings(
        {"OIDC_OP_ISSUER": provider.issuer, "OIDC_OP_TOKEN_ENDPOINT": "https://proxy/token"}
    )

    assert values["OIDC_OP_TOKEN_ENDPOINT"] == "https://proxy/token"
    assert values["OIDC_OP_USER_ENDPOINT"] == f"{provider.issuer}/userinfo"


def test_discovery_document_of_another_issuer_is_refused(provider):
    provider.document["issuer"] = "https://evil.example.com"

    with pytest.raises(ImproperlyConfigured, match="must match"):
        env.oidc_settings({"OIDC_OP_ISSUER": provider.issuer})


def test_discovery_with_nothing_listening_names_the_discovery_url():
    issuer = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(ImproperlyConfigured) as exc_info:
        env.oidc_settings({"OIDC_OP_ISSUER": issuer})

    assert f"{issuer}/.well-known/openid-configuration" in str(exc_info.value)


def test_discovery_answered_by_a_server_error_is_refused(provider):
    provider.status = 500

    with pytest.raises(ImproperlyConfigured, match="500"):
        env.oidc_settings({"OIDC_OP_ISSUER": provider.issuer})


def test_discovery_answer_that_is_no_json_object_is_refused(provider):
    provider.document = ["not", "a", "discovery", "document"]

    with pytest.raises(ImproperlyConfigured, match="OIDC_OP_ISSUER"):
        env.oidc_settings({"OIDC_OP_ISSUER": provider.issuer})


# --- The real settings module, in a subprocess ------------------------------------------------


def test_project_without_redis_url_needs_no_redis(tmp_path):
    values = project_settings(tmp_path)

    assert values["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    assert values["CELERY_BROKER_URL"] == "filesystem://"
    assert values["SESSION_ENGINE"] == "django.contrib.sessions.backends.db"


def test_project_with_redis_url_uses_redis(tmp_path):
    values = project_settings(tmp_path, REDIS_URL=REDIS_URL)

    assert values["CACHES"]["default"]["BACKEND"] == "django_redis.cache.RedisCache"
    assert values["CACHES"]["default"]["LOCATION"] == REDIS_URL
    assert values["SESSION_ENGINE"] == "django.contrib.sessions.backends.cache"
    assert values["CELERY_BROKER_URL"] == REDIS_URL


def test_project_reads_logout_sso_keys_from_environment(tmp_path):
    values = project_settings(tmp_path, LOGOUT_SSO_TRUSTED_ISSUERS=json.dumps(TRUSTED_ISSUERS))

    assert values["LOGOUT_SSO"]["TRUSTED_ISSUERS"] == TRUSTED_ISSUERS


def test_project_with_oidc_client_id_enables_oidc_login(tmp_path):
    values = project_settings(
        tmp_path, OIDC_RP_CLIENT_ID="crm", OIDC_RP_CLIENT_SECRET="123", **OIDC_ENDPOINTS
    )

    assert values["AUTHENTICATION_BACKENDS"][0] == OIDC_BACKEND
    assert values["OIDC_RP_SIGN_ALGO"] == "RS256"
    assert values["OIDC_RP_CLIENT_SECRET"] == "123"


def test_project_without_oidc_client_id_has_no_oidc_login(tmp_path):
    values = project_settings(tmp_path)

    assert OIDC_BACKEND not in values["AUTHENTICATION_BACKENDS"]


def test_project_discovers_oidc_endpoints_from_issuer(tmp_path, provider):
    values = project_settings(
        tmp_path, OIDC_OP_ISSUER=provider.issuer, OIDC_RP_CLIENT_ID="crm", OIDC_RP_CLIENT_SECRET="s"
    )

    assert values["OIDC_OP_TOKEN_ENDPOINT"] == f"{provider.issuer}/token"
    assert values["OIDC_OP_JWKS_ENDPOINT"] == f"{provider.issuer}/jwks"


def test_project_with_unreachable_issuer_fails_naming_the_discovery_url(tmp_path):
    issuer = f"http://127.0.0.1:{free_port()}"

    result = manage(tmp_path, "check", OIDC_OP_ISSUER=issuer)

    assert result.returncode != 0
    assert f"{issuer}/.well-known/openid-configuration" in result.stderr


def test_check_reports_unknown_logout_sso_key(tmp_path):
    result = manage(tmp_path, "check", LOGOUT_SSO_UNKNOWN_KEY="1")

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "logout_sso.E001" in output
    assert "UNKNOWN_KEY" in output


@pytest.mark.parametrize("command", [["check"], ["migrate", "--noinput"]])
def test_production_mode_without_secret_key_refuses_to_start(tmp_path, command):
    result = manage(tmp_path, *command, DJANGO_DEBUG="false")

    assert result.returncode != 0
    assert "Set DJANGO_SECRET_KEY" in result.stderr


# --- seed_demo, in subprocesses on a fresh database -------------------------------------------


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A fresh database, migrated, then ``seed_demo`` run twice."""
    var_dir = tmp_path_factory.mktemp("seeded")
    migrated = manage(var_dir, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    first = manage(var_dir, "seed_demo")
    second = manage(var_dir, "seed_demo")
    return SimpleNamespace(var_dir=var_dir, first=first, second=second)


@pytest.fixture(scope="module")
def demo_data(seeded: SimpleNamespace) -> dict[str, Any]:
    data: dict[str, Any] = shell_json(seeded.var_dir, PRINT_DEMO_DATA)
    return data


def test_seed_demo_succeeds_twice(seeded):
    assert seeded.first.returncode == 0, seeded.first.stderr
    assert seeded.second.returncode == 0, seeded.second.stderr


def test_seed_demo_prints_the_users_and_their_password(seeded):
    for username in ("admin", "acme-admin", "globex-admin"):
        assert re.search(rf"^\s+{username} / \S+$", seeded.first.stdout, re.MULTILINE), username


def test_seed_demo_prints_new_credentials_once(seeded):
    for application in ("Wiki", "Billing"):
        line = rf"^\s+{application}: lsso_\S+$"
        assert re.search(line, seeded.first.stdout, re.MULTILINE), application
        assert f"{application}: unchanged" in seeded.second.stdout
    assert "lsso_" not in seeded.second.stdout


def test_seed_demo_twice_creates_each_thing_once(demo_data):
    assert sorted(demo_data["organizations"]) == ["acme", "globex"]
    assert demo_data["applications"] == ["billing", "wiki"]
    assert demo_data["users"] == ["acme-admin", "admin", "globex-admin"]


def test_seed_demo_gives_organizations_contrasting_policies(demo_data):
    assert demo_data["organizations"]["acme"] == {
        "slo_mode": "short_lived_tokens",
        "session_ttl": 300,
        "federated_logout": False,
    }
    globex = demo_data["organizations"]["globex"]
    assert globex["slo_mode"] == "logout_service"
    assert globex["federated_logout"] is True


def test_seed_demo_organization_admin_administers_only_their_organization(demo_data):
    assert demo_data["administered"]["acme-admin"] == ["acme"]
    assert demo_data["administered"]["globex-admin"] == ["globex"]


def test_check_passes_on_seeded_project(seeded):
    result = manage(seeded.var_dir, "check")

    assert result.returncode == 0, result.stdout + result.stderr


def test_seed_demo_leaves_an_organization_mirrored_from_the_hub_to_the_hub(db):
    """In a client's database, after its first sync, the hub decides: seeding again (each
    start of the demo) must not undo what was changed there."""
    acme = Organization.objects.create(slug="acme", name="Acme", hub_id=7)
    LogoutPolicy.objects.filter(pk=acme.pk).update(session_ttl=60)

    seed()

    acme.refresh_from_db()
    assert acme.logout_policy.session_ttl == 60
    assert not acme.email_domains.exists()
    assert list(acme.admins.values_list("username", flat=True)) == ["acme-admin"]
    assert Organization.objects.get(slug="globex").logout_policy.session_ttl == 600


# --- The example project's pages, in process --------------------------------------------------


@pytest.fixture
def example_site(settings, db):
    settings.ROOT_URLCONF = "example_project.urls"
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "example_project"]
    seed()


def test_me_anonymous(client, example_site):
    response = client.get("/me/")

    assert response.status_code == 200
    assert response.json() == {
        "authenticated": False,
        "user": None,
        "email": None,
        "sub": None,
        "organization": None,
        "recheck_at": None,
    }


def test_me_signed_in(client, example_site):
    client.force_login(User.objects.get(username="acme-admin"))

    me = client.get("/me/").json()

    assert me["authenticated"] is True
    assert me["user"] == "acme-admin"


def test_home_lists_organizations_with_their_policies(client, example_site):
    response = client.get("/")

    assert response.status_code == 200
    page = response.content.decode()
    assert re.search(r"Acme.*Short-lived tokens.*300 s.*Globex.*Logout service.*600 s", page, re.S)


def test_home_anonymous_offers_sign_in(client, example_site):
    page = client.get("/").content.decode()

    assert "Not signed in" in page
    assert 'href="/admin/login/?next=/"' in page


def test_home_signed_in_shows_user_and_logout_form(client, example_site):
    client.force_login(User.objects.get(username="acme-admin"))

    page = client.get("/").content.decode()

    assert '<strong id="user">acme-admin</strong>' in page
    assert re.search(
        r'<form method="post" action="/sso/logout/">'
        r'<input type="hidden" name="csrfmiddlewaretoken" value="\w+">',
        page,
    )


# --- runner.Runner: run_demo's process supervisor --------------------------------------------

SLEEPER = (sys.executable, "-c", "import time; time.sleep(60)")


def exits_with(status: int) -> tuple[str, ...]:
    return (sys.executable, "-c", f"raise SystemExit({status})")


def when_started(
    run: Runner, action: Callable[[], None], ready: Callable[[], bool] = lambda: True
) -> threading.Event:
    """Call ``action`` from a background thread once every child of ``run`` is started and
    ``ready()``; the event returned is set once it was called. If that never happens, only set
    ``stopping``, so that ``run()`` returns and the test fails on the event."""
    acted = threading.Event()

    def target() -> None:
        try:
            wait_for(
                lambda: len(run.processes) == len(run.services) and ready(),
                STARTUP_SECONDS,
                "the runner's children did not start",
            )
        except pytest.fail.Exception:
            run.stopping = True
            return
        action()
        acted.set()

    threading.Thread(target=target, daemon=True).start()
    return acted


def all_stopped(run: Runner) -> bool:
    return all(process.poll() is not None for process in run.processes.values())


def test_runner_returns_status_of_exited_child_and_stops_the_others():
    messages: list[str] = []
    run = Runner([Service("web", SLEEPER), Service("worker", exits_with(3))], log=messages.append)

    assert run.run() == 3

    assert all_stopped(run)
    assert "worker exited with status 3; stopping." in messages


def test_runner_treats_child_exiting_successfully_as_failure():
    run = Runner([Service("web", SLEEPER), Service("worker", exits_with(0))], log=print)

    assert run.run() == 1
    assert all_stopped(run)


def test_runner_stopping_flag_stops_children_and_returns_zero():
    messages: list[str] = []
    run = Runner([Service("web", SLEEPER), Service("worker", SLEEPER)], log=messages.append)
    acted = when_started(run, lambda: setattr(run, "stopping", True))

    assert run.run() == 0

    assert acted.is_set()
    assert all_stopped(run)
    assert "Stopping..." in messages


def test_runner_stops_on_sigterm_and_restores_signal_handlers():
    before = signal.getsignal(signal.SIGTERM)
    run = Runner([Service("web", SLEEPER), Service("worker", SLEEPER)], log=print)
    acted = when_started(run, lambda: os.kill(os.getpid(), signal.SIGTERM))

    assert run.run() == 0

    assert acted.is_set()
    assert all_stopped(run)
    assert signal.getsignal(signal.SIGTERM) is before


def test_runner_children_are_out_of_reach_of_ctrl_c():
    groups: list[int] = []
    run = Runner([Service("web", SLEEPER)], log=print)

    def look_then_stop() -> None:
        groups.extend(os.getpgid(process.pid) for process in run.processes.values())
        run.stopping = True

    acted = when_started(run, look_then_stop)
    run.run()

    assert acted.is_set()
    assert os.getpgrp() not in groups


def test_runner_kills_child_that_ignores_sigterm_after_grace_period(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "GRACE_SECONDS", 0.5)
    ready = tmp_path / "ignoring-sigterm"
    stubborn = (
        sys.executable,
        "-c",
        "import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "pathlib.Path(sys.argv[1]).touch(); time.sleep(60)",
        str(ready),
    )
    messages: list[str] = []
    run = Runner([Service("stubborn", stubborn)], log=messages.append)
    acted = when_started(run, lambda: setattr(run, "stopping", True), ready=ready.exists)

    assert run.run() == 0
    assert acted.is_set()

    assert run.processes["stubborn"].returncode == -signal.SIGKILL
    assert any("stubborn did not stop" in message for message in messages)


def test_metrics_for_the_staff_only(client, example_site):
    assert client.get("/metrics/").status_code == 403

    client.force_login(User.objects.get(username="acme-admin"))  # staff
    response = client.get("/metrics/")

    assert response.status_code == 200
    assert b"logout_sso_logouts_total" in response.content
