"""Fixtures of the whole suite: factories for organizations, applications and users, and
``captured_signals``.

The tests are grouped by role (``rp/``, ``receiver/``, ``hub/``, ``inbound/`` (signals from
organizations' identity providers), ``admin/``, ``example/``,
``core/``, and ``browser/``: what a person sees in headless Chromium), each directory with a
``conftest.py`` of the fixtures its modules share. Fixtures of support modules are registered
here as plugins (pytest takes ``pytest_plugins`` only from this root conftest): the services
(Redis, a Celery worker: ``tests/services.py``), the OpenID provider
(``tests/oidc_provider.py``), the hub's receivers, keys, settings and worker
(``tests/hub_receivers.py``), a Shared Signals transmitter (``tests/ssf_transmitter.py``) and
the fault drills' hub (``tests/drills.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.dispatch import Signal
from django.test import Client

from logout_sso.admin.permissions import ensure_organization_admins_group
from logout_sso.models import Application, Organization

pytest_plugins = [
    "tests.services",
    "tests.oidc_provider",
    "tests.hub_receivers",
    "tests.ssf_transmitter",
    "tests.drills",
]

#: Fixtures that start or reach a real service or process (Redis, a Celery worker, the OpenID
#: provider on Node.js, headless Chromium): a test that uses one, directly or through another
#: fixture, is marked ``integration``, so ``pytest -m "not integration"`` runs the fast part alone.
SERVICE_FIXTURES = frozenset(
    {
        "redis_url",
        "redis_client",
        "celery_worker_process",
        "hub_worker_process",
        "oidc_provider_factory",
        "browser",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    """The per-process test cache holds policies, JWKS and limits: nothing may leak from one
    test to the next (primary keys are reused after a rollback)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_organization(db: None) -> Callable[..., Organization]:
    def make(slug: str = "acme", **fields: Any) -> Organization:
        fields.setdefault("name", slug.capitalize())
        return Organization.objects.create(slug=slug, **fields)

    return make


@pytest.fixture
def acme(make_organization: Callable[..., Organization]) -> Organization:
    """Organization acme, known at the IdP as org_acme."""
    return make_organization("acme", idp_organization_id="org_acme")


@pytest.fixture
def make_application(db: None) -> Callable[..., Application]:
    def make(name: str, *organizations: Organization, **fields: Any) -> Application:
        fields.setdefault("client_id", f"{name}-client")
        fields.setdefault("backchannel_logout_uri", f"https://{name}.example.com/bcl")
        application, _token = Application.objects.create_with_credential(name=name, **fields)
        application.organizations.set(organizations)
        return application

    return make


@pytest.fixture
def metrics_reader(db: None) -> Client:
    """A browser signed in as a staff user: allowed to read ``/metrics/`` whatever the
    settings."""
    client = Client()
    client.force_login(User.objects.create_user("operator", is_staff=True))
    return client


@pytest.fixture
def make_org_admin(db: None) -> Callable[..., User]:
    """A staff user with the organization-admin permissions, admin of the given organizations."""

    def make(username: str, *organizations: Organization) -> User:
        user = User.objects.create_user(username, password="pw", is_staff=True)
        user.groups.add(ensure_organization_admins_group())
        for organization in organizations:
            organization.admins.add(user)
        return user

    return make


#: One list per signal given to ``captured_signals``: a dict per sending, of its ``sender`` and
#: keyword arguments.
Sent = list[dict[str, Any]]


@pytest.fixture
def captured_signals() -> Iterator[Callable[..., tuple[Sent, ...]]]:
    """``recorded, terminated = captured_signals(logout_recorded, sessions_terminated)``: what
    each signal is sent with from now until the end of the test, one list per signal. The
    receivers are disconnected at teardown."""
    connected: list[tuple[Signal, Callable[..., None]]] = []

    def recorder(sent: Sent) -> Callable[..., None]:
        def receive(sender: Any, **kwargs: Any) -> None:
            kwargs.pop("signal", None)
            sent.append({"sender": sender, **kwargs})

        return receive

    def capture(*signals: Signal) -> tuple[Sent, ...]:
        captured: list[Sent] = []
        for signal in signals:
            sent: Sent = []
            receive = recorder(sent)
            signal.connect(receive, weak=False)
            connected.append((signal, receive))
            captured.append(sent)
        return tuple(captured)

    yield capture
    for signal, receive in connected:
        signal.disconnect(receive)
