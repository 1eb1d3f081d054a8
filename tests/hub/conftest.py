"""Fixtures of the hub's tests.

The hub's receivers, signing keys, settings (``hub_settings``) and worker come from the
``tests.hub_receivers`` plugin, the services from ``tests.services`` (both registered in
``tests/conftest.py``).
"""

from __future__ import annotations

import pytest

from logout_sso.models import Organization
from tests.hub_receivers import Tenants, register_application


@pytest.fixture
def tenants(db: None) -> Tenants:
    """acme with the applications wiki and billing, globex with crm; their credentials."""
    acme = Organization.objects.create(slug="acme", name="Acme", idp_organization_id="org_acme")
    globex = Organization.objects.create(slug="globex", name="Globex")
    wiki, wiki_credential = register_application("wiki", acme, uri="https://wiki.example.com/bcl")
    billing, billing_credential = register_application(
        "billing", acme, uri="https://billing.example.com/bcl"
    )
    crm, crm_credential = register_application("crm", globex, uri="https://crm.example.com/bcl")
    return Tenants(
        acme, globex, wiki, wiki_credential, billing, billing_credential, crm, crm_credential
    )
