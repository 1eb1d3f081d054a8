"""Shared fixtures: factories for organizations, applications and users.

Service fixtures (Redis, a Celery worker) live in ``tests/services.py`` and are registered here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache

from logout_sso.admin.permissions import ensure_organization_admins_group
from logout_sso.models import Application, Organization

pytest_plugins = ["tests.services", "tests.oidc_provider"]

#: Fixtures that start or reach a real service or process (Redis, a Celery worker, the OpenID
#: provider on Node.js): a test that uses one, directly or through another fixture, is marked
#: ``integration``, so ``pytest -m "not integration"`` runs the fast part alone.
SERVICE_FIXTURES = frozenset(
    {
        "redis_url",
        "redis_client",
        "celery_worker_process",
        "hub_worker_process",
        "oidc_provider_factory",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    """The per-process test cache holds policies, JWKS and seen jti: nothing may leak from one
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
def make_org_admin(db: None) -> Callable[..., User]:
    """A staff user with the organization-admin permissions, admin of the given organizations."""

    def make(username: str, *organizations: Organization) -> User:
        user = User.objects.create_user(username, password="pw", is_staff=True)
        user.groups.add(ensure_organization_admins_group())
        for organization in organizations:
            organization.admins.add(user)
        return user

    return make
