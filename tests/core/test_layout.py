"""The package's structure as integrators meet it: roles separable at import time, the public
API declared.

A project that only signs users in (relying party) or receives back-channel logouts must not
load the hub's sender, its HTTP transport or libcurl (the ``[hub]`` extra) when Django starts or
when its URLs are first resolved; the hub's handlers are connected only where it is a hub.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from logout_sso import api
from logout_sso.handlers import HUB_FAN_OUT
from logout_sso.signals import logout_recorded
from tests.pem import rsa_private_key_pem
from tests.services import REPO_ROOT

pytestmark = pytest.mark.integration  # a fresh Python process per test

HUB_MACHINERY = ("pycurl", "logout_sso.hub.internal.sender", "logout_sso.hub.internal.transport")

PROBE = """
import json, sys
import django
django.setup()
after_setup = sorted(sys.modules)
import logout_sso.urls  # noqa: F401 - what the first request of the project resolves
from logout_sso.handlers import HUB_FAN_OUT
from logout_sso.signals import logout_recorded
print(json.dumps({
    "after_setup": after_setup,
    "after_urls": sorted(sys.modules),
    "hub_handler": any(entry[0][0] == HUB_FAN_OUT for entry in logout_recorded.receivers),
}))
"""


def loaded_modules(**overrides: object) -> dict[str, Any]:
    """What a fresh process of the test project imports (with these settings over tests')."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "LOGOUT_SSO_TEST_OVERRIDES": json.dumps(overrides),
        "PYTHONPATH": str(REPO_ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=environment,
        timeout=120,
        check=True,
    )
    loaded: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_a_project_that_is_no_hub_never_loads_the_hubs_sender_nor_libcurl():
    loaded = loaded_modules()

    for machinery in HUB_MACHINERY:
        assert machinery not in loaded["after_setup"]
        assert machinery not in loaded["after_urls"]
    assert loaded["hub_handler"] is False


def test_nothing_imports_prometheus_client_before_something_is_counted_or_scraped():
    """The ``[metrics]`` extra is optional: starting a project and resolving logout_sso's URLs
    leaves prometheus-client alone (the hooks import it when they first count)."""
    loaded = loaded_modules()

    assert "prometheus_client" not in loaded["after_setup"]
    assert "prometheus_client" not in loaded["after_urls"]


def test_a_hub_connects_its_handler_and_still_loads_libcurl_only_to_send(hub_rsa_pem_text):
    loaded = loaded_modules(
        LOGOUT_SSO={"HUB_ISSUER": "https://hub.example.com/", "HUB_SIGNING_KEY": hub_rsa_pem_text}
    )

    assert loaded["hub_handler"] is True
    assert "logout_sso.hub.handlers" in loaded["after_setup"]
    for machinery in HUB_MACHINERY:
        assert machinery not in loaded["after_urls"]


def test_the_hub_handler_follows_the_settings(settings):
    def connected() -> bool:
        return any(entry[0][0] == HUB_FAN_OUT for entry in logout_recorded.receivers)

    settings.LOGOUT_SSO = {}
    assert not connected()
    settings.LOGOUT_SSO = {
        "HUB_ISSUER": "https://hub.example.com/",
        "HUB_SIGNING_KEY": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
    }
    assert connected()


@pytest.fixture
def hub_rsa_pem_text() -> str:
    return rsa_private_key_pem()


def test_the_public_api_declares_what_it_exports():
    assert set(api.__all__) <= set(dir(api))
    for name in api.__all__:
        exported = getattr(api, name)
        assert exported.__doc__, f"logout_sso.api.{name} has no docstring"


PUBLIC_MODULES = (
    "logout_sso.api",
    "logout_sso.checks",
    "logout_sso.client",
    "logout_sso.conf",
    "logout_sso.constants",
    "logout_sso.handlers",
    "logout_sso.models",
    "logout_sso.signals",
    "logout_sso.tasks",
    "logout_sso.urls",
    "logout_sso.admin.permissions",
    "logout_sso.hub.handlers",
    "logout_sso.hub.views",
    "logout_sso.receiver.views",
    "logout_sso.rp.backend",
    "logout_sso.rp.logout_urls",
    "logout_sso.rp.middleware",
    "logout_sso.rp.resolvers",
    "logout_sso.rp.views",
)


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_module_declares_its_public_names(module):
    imported = importlib.import_module(module)

    assert imported.__all__, f"{module} declares no __all__"
    assert [name for name in imported.__all__ if not hasattr(imported, name)] == []
