"""The demo's topology (``example_project.topology``): Wiki is the logout service (the hub),
Billing a client of it, each with a Celery worker of its own.

The environments are checked as values, then by the real settings module (``manage.py check``
in a subprocess). Last, the demo's web processes and workers run for real, without the OpenID
provider, and the hub delivers a logout to Billing.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from example_project import env, topology
from example_project.runner import Service
from tests.example.demo_processes import MIRRORED, answers, prepare, running, shell, sign_in
from tests.relying_parties import CONFIG_PREFIXES
from tests.services import free_port

CREDENTIAL = "lsso_demo_credential-for-the-tests"
SUB = "bob@globex.example"
WIKI, BILLING = topology.SITES

HUB_SESSIONS_OF_BILLING = """
from logout_sso.models import TrackedSession
print(TrackedSession.objects.live().filter(application__client_id="billing", sub=SUB).count())
"""


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A var dir of the test's own; this process's environment (which the topology's commands
    inherit) as an operator's shell: no example-project configuration but ``EXAMPLE_VAR_DIR``."""
    for name in list(os.environ):
        if name.startswith(CONFIG_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EXAMPLE_VAR_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def demo(var_dir: Path) -> dict[str, Service]:
    """The demo's processes (without the provider), by name."""
    services = topology.services(var_dir, with_provider=False, credential=CREDENTIAL)
    return {service.name: service for service in services}


def logout_sso_of(service: Service) -> dict[str, Any]:
    """The ``LOGOUT_SSO`` a process of the demo is given."""
    return env.logout_sso_settings(service.env)


# --- The hub's signing key --------------------------------------------------------------------


def test_hub_signing_key_is_made_once_for_its_owner_only(var_dir):
    pem = topology.hub_signing_key(var_dir)

    path = var_dir / topology.HUB_SIGNING_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n")  # PKCS #8, unencrypted
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    assert topology.hub_signing_key(var_dir) == pem
    assert path.read_text() == pem


# --- The environments -------------------------------------------------------------------------


def test_wiki_is_the_hub(var_dir, demo):
    assert logout_sso_of(demo["wiki"]) == {
        "HUB_ISSUER": "http://127.0.0.1:8000/sso/",
        "HUB_SIGNING_KEY": topology.hub_signing_key(var_dir),
        "DELIVERY_ALLOW_PRIVATE_ADDRESSES": True,
    }
    assert "DATABASE_URL" not in demo["wiki"].env  # the main database


def test_billing_is_a_client_of_the_hub(demo):
    assert logout_sso_of(demo["billing"]) == {
        "HUB_URL": "http://127.0.0.1:8000/sso/api/",
        "HUB_API_CREDENTIAL": CREDENTIAL,
        "TRUSTED_ISSUERS": [
            {
                "issuer": "http://127.0.0.1:8000/sso/",
                "jwks_uri": "http://127.0.0.1:8000/sso/jwks/",
                "audience": "billing",
                "subject_issuer": topology.PROVIDER_ISSUER,
            }
        ],
        "POLICY_SYNC_INTERVAL": 10,
    }


def test_billing_keeps_its_database_and_has_a_broker_of_its_own(var_dir, demo):
    billing = demo["billing"].env

    assert billing["DATABASE_URL"] == f"sqlite:///{var_dir / 'billing.sqlite3'}"
    main = env.cache_and_broker_settings(None, var_dir)["CELERY_BROKER_TRANSPORT_OPTIONS"]
    own = env.cache_and_broker_settings(None, Path(billing["EXAMPLE_VAR_DIR"]))[
        "CELERY_BROKER_TRANSPORT_OPTIONS"
    ]
    for folder in ("data_folder_in", "data_folder_out", "control_folder"):
        assert own[folder] != main[folder], folder


def test_each_site_has_a_worker_with_its_environment(demo):
    assert sorted(demo) == ["billing", "billing-worker", "wiki", "wiki-worker"]
    assert demo["wiki-worker"].env == demo["wiki"].env
    assert demo["billing-worker"].env == demo["billing"].env
    wiki_schedule = demo["wiki-worker"].command[demo["wiki-worker"].command.index("--beat") + 2]
    billing_command = demo["billing-worker"].command
    billing_schedule = billing_command[billing_command.index("--beat") + 2]
    assert billing_schedule == str(
        Path(demo["billing"].env["EXAMPLE_VAR_DIR"]) / "celerybeat-schedule"
    )
    assert billing_schedule != wiki_schedule  # each beat its own schedule


def test_billing_mirrors_the_hubs_policies_every_ten_seconds(demo):
    assert env.policy_sync_schedule(logout_sso_of(demo["billing"])) == {
        "logout_sso-sync-policies": {
            "task": "logout_sso.sync_policies",
            "schedule": 10.0,
            "options": {"expires": 10.0},
        }
    }
    assert env.policy_sync_schedule(logout_sso_of(demo["wiki"])) == {}


def test_each_sites_web_process_and_worker_share_an_empty_metrics_directory(var_dir, demo):
    directories = {name: service.env["PROMETHEUS_MULTIPROC_DIR"] for name, service in demo.items()}

    assert directories["wiki"] == directories["wiki-worker"] == str(var_dir / "prometheus/wiki")
    assert directories["billing"] == directories["billing-worker"] != directories["wiki"]
    for directory in directories.values():
        assert list(Path(directory).iterdir()) == []


def test_the_rest_starts_once_the_hub_answers(demo):
    assert demo["wiki"].ready is not None
    assert demo["billing"].ready is None


def test_only_billing_processes_are_given_its_credential(demo):
    holders = {
        name
        for name, service in demo.items()
        if any(CREDENTIAL in value for value in service.env.values())
    }

    assert holders == {"billing", "billing-worker"}


def test_with_provider_both_sites_sign_in_there(var_dir):
    services = topology.services(var_dir, with_provider=True, credential=CREDENTIAL)

    assert services[0].name == "provider"
    clients = json.loads(services[0].env["OP_CLIENTS"])
    assert [client["client_id"] for client in clients] == ["wiki", "billing"]
    for service in services[1:]:
        assert service.env["OIDC_OP_ISSUER"] == topology.PROVIDER_ISSUER


@pytest.mark.parametrize("name", ["wiki", "billing"])
def test_site_environment_passes_the_system_checks(demo, name):
    result = topology.manage(demo[name].env, "check", check=False)

    assert result.returncode == 0, result.stdout + result.stderr


def test_issuing_a_credential_on_an_unseeded_hub_says_what_to_do(var_dir):
    with pytest.raises(topology.SetupFailed, match="seed_demo"):
        topology.issue_credential(var_dir, WIKI, BILLING)


# --- The demo, for real: the hub delivers a logout to Billing --------------------------------


def test_hub_delivers_a_logout_to_billing(var_dir):
    wiki, billing = (replace(site, port=free_port()) for site in topology.SITES)
    credential = prepare(var_dir, wiki, billing)
    services = topology.services(
        var_dir, with_provider=False, credential=credential, sites=(wiki, billing)
    )
    environments = {service.name: service.env for service in services}
    bearer = {"Authorization": f"Bearer {credential}"}
    constants = f"ISSUER = {topology.PROVIDER_ISSUER!r}\nSUB = {SUB!r}\n"

    with running(services, var_dir / "logs") as demo:
        demo.wait_for(answers(f"{wiki.sso_url}jwks/"), "Wiki does not answer")
        demo.wait_for(answers(f"{billing.url}/me/"), "Billing does not answer")
        demo.wait_for(
            lambda: shell(environments["billing"], MIRRORED) == "['acme', 'globex']",
            "Billing did not mirror the hub's organizations",
        )
        session_key, _log = sign_in(
            environments["billing"],
            organization="globex",
            sub=SUB,
            username="globex-admin",
            sid="sid-at-billing",
        )
        cookies = {"billing_session": session_key}

        def me() -> dict[str, Any]:
            body: dict[str, Any] = requests.get(
                f"{billing.url}/me/", cookies=cookies, timeout=5
            ).json()
            return body

        assert me()["sub"] == SUB
        demo.wait_for(
            lambda: shell(environments["wiki"], constants + HUB_SESSIONS_OF_BILLING) == "1",
            "Billing's worker did not register the session at the hub",
        )
        reported = requests.post(
            f"{wiki.sso_url}api/logouts/",
            json={"sub": SUB, "organization": "globex", "issuer": topology.PROVIDER_ISSUER},
            headers=bearer,
            timeout=10,
        )
        assert reported.status_code == 202, reported.text
        assert reported.json()["deliveries"] == 1

        def delivered_to_billing() -> dict[str, Any] | None:
            event = requests.get(
                f"{wiki.sso_url}api/logouts/{reported.json()['event']}/",
                headers=bearer,
                timeout=5,
            ).json()
            return next(
                (
                    delivery
                    for delivery in event["deliveries"]
                    if delivery["application"] == "Billing" and delivery["state"] == "delivered"
                ),
                None,
            )

        delivery = demo.wait_for(
            delivered_to_billing, "the hub's worker did not deliver the logout to Billing"
        )
        assert delivery["last_status"] == 200
        assert me()["authenticated"] is False
