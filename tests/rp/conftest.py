"""Fixtures of the relying party's tests (login, logout, the short-lived-session middleware,
the session index, client mode's mirror of the hub, the interop tests against
node-oidc-provider).

``scripted_hub``: client mode, of a hub whose answers the test scripts
(``tests/scripted_hub.py``). The suite's fixtures (``acme``, ``make_organization``,
``captured_signals``, ...) are in ``tests/conftest.py``; the OpenID provider
(``oidc_provider_factory``) and the services (``redis_url``, ``celery_worker``) come from the
plugins it registers.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from tests.scripted_hub import ScriptedHub


@pytest.fixture
def scripted_hub(settings: SettingsWrapper) -> Iterator[ScriptedHub]:
    """This project in client mode, of a hub whose answers the test scripts."""
    hub = ScriptedHub()
    settings.LOGOUT_SSO = hub.settings()
    yield hub
    hub.close()
