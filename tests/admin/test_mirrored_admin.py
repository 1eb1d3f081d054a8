"""The admin of a client-mode project: organizations mirrored from the hub are read-only there
for everyone (their identity, email domains and the policy's mirrored fields), with a link to
the hub; local organizations stay editable; a stale copy is said on the organization pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib import messages
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from logout_sso.models import EmailDomain, Organization, PolicyMirror
from tests.admin.test_admin import admin_url, change_form_data, form_data, shown_messages

HUB_URL = "https://hub.example.com/sso/api/"
HUB_PAGE = "https://hub.example.com/admin/logout_sso/organization/7/change/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_mode(settings: Any) -> None:
    settings.LOGOUT_SSO = {"HUB_URL": HUB_URL, "HUB_API_CREDENTIAL": "c"}


@pytest.fixture
def acme(db: None) -> Organization:
    """Acme as the hub serves it, mirrored here."""
    acme = Organization.objects.create(
        name="Acme", slug="acme", idp_organization_id="org_acme", hub_id=7, hub_admin_url=HUB_PAGE
    )
    EmailDomain.objects.create(organization=acme, domain="acme.example")
    return acme


@pytest.fixture
def superuser(client: Client) -> User:
    user = User.objects.create_superuser("root", password="pw")
    client.force_login(user)
    return user


def fresh() -> None:
    PolicyMirror.objects.create(hub_url=HUB_URL, synced_at=timezone.now())


def domains_inline(response: Any) -> Any:
    return next(
        inline
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.prefix == "email_domains"
    )


def policy_form(response: Any) -> Any:
    [inline] = [
        inline
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.prefix == "logout_policy"
    ]
    return inline.formset.forms[0]


def test_a_mirrored_organization_is_read_only_even_for_a_superuser(
    client, client_mode, superuser, acme
):
    fresh()

    response = client.get(admin_url("organization", "change", acme.pk))

    form = response.context["adminform"].form
    assert not {"name", "slug", "idp_organization_id", "connection", "auto_forward"} & set(
        form.fields
    )
    assert "admins" in form.fields  # who administers it here is this project's
    assert set(policy_form(response).fields) >= {
        "delivery_max_attempts",
        "delivery_backoff_seconds",
        "delivery_backoff_max_seconds",
    }
    assert not {"slo_mode", "session_ttl", "federated_logout", "post_logout_redirect_uris"} & set(
        policy_form(response).fields
    )
    domains = domains_inline(response)
    assert not domains.has_add_permission
    assert not domains.has_change_permission
    assert not domains.has_delete_permission
    html = response.content.decode()
    assert f'Managed at the hub: <a href="{HUB_PAGE}">edit it there</a>' in html
    assert response.context["prepopulated_fields"] == []


def test_posting_mirrored_fields_changes_nothing_but_the_local_ones(
    client, client_mode, superuser, acme
):
    fresh()
    data = change_form_data(
        client,
        "organization",
        acme,
        name="Evil",
        slug="evil",
        idp_organization_id="org_evil",
        connection="evil-okta",
        auto_forward="on",
    )
    data |= {
        "logout_policy-0-session_ttl": "86400",
        "logout_policy-0-slo_mode": "none",
        "logout_policy-0-delivery_max_attempts": "3",
        "email_domains-TOTAL_FORMS": "2",
        "email_domains-1-domain": "evil.example",
    }

    response = client.post(admin_url("organization", "change", acme.pk), data)

    assert response.status_code == 302
    acme.refresh_from_db()
    policy = acme.logout_policy
    assert (acme.name, acme.slug, acme.idp_organization_id, acme.connection) == (
        "Acme",
        "acme",
        "org_acme",
        "",
    )
    assert acme.auto_forward is False
    assert (policy.session_ttl, policy.slo_mode) == (600, "short_lived_tokens")
    assert policy.delivery_max_attempts == 3
    assert list(acme.email_domains.values_list("domain", flat=True)) == ["acme.example"]


def test_a_local_organization_stays_editable_and_organizations_can_be_added(
    client, client_mode, superuser, make_organization
):
    fresh()
    initech = make_organization("initech")

    change = client.get(admin_url("organization", "change", initech.pk))
    add = client.get(admin_url("organization", "add"))

    assert {"name", "slug", "idp_organization_id"} <= set(change.context["adminform"].form.fields)
    assert "session_ttl" in policy_form(change).fields
    assert domains_inline(change).has_add_permission
    assert "Managed at the hub" not in change.content.decode()
    assert add.status_code == 200
    data = {**form_data(add), "name": "Umbrella", "slug": "umbrella"}
    assert client.post(admin_url("organization", "add"), data).status_code == 302
    assert Organization.objects.get(slug="umbrella").hub_id is None


def test_an_organization_admin_sees_the_same(client, client_mode, acme, make_org_admin):
    fresh()
    client.force_login(make_org_admin("alice", acme))

    response = client.get(admin_url("organization", "change", acme.pk))

    form = response.context["adminform"].form
    assert not {"name", "auto_forward"} & set(form.fields)
    assert "session_ttl" not in policy_form(response).fields
    assert "Managed at the hub" in response.content.decode()


# --- The banner of a stale copy ---------------------------------------------------------------


@pytest.mark.parametrize("view", ["changelist", "change"])
def test_a_stale_copy_is_said_with_since_when_and_the_last_error(
    client, client_mode, superuser, acme, view
):
    confirmed = timezone.now() - timedelta(hours=2)
    PolicyMirror.objects.create(
        hub_url=HUB_URL,
        synced_at=confirmed,
        attempted_at=timezone.now(),
        last_error="unreachable: connection refused",
    )
    args = [acme.pk] if view == "change" else []

    response = client.get(admin_url("organization", view, *args))

    [(level, text)] = shown_messages(response)
    assert level == messages.WARNING
    assert text.startswith(
        "The organizations and policies mirrored from the hub were last confirmed "
    )
    assert "(they count as stale after 300 seconds)" in text
    assert "The last known ones stay in force." in text
    assert text.endswith(": unreachable: connection refused")


def test_a_copy_never_synced_is_said_to_be_stale(client, client_mode, superuser):
    response = client.get(admin_url("organization", "changelist"))

    [(_level, text)] = shown_messages(response)
    assert "were last confirmed never" in text


@pytest.mark.parametrize("mode", ["fresh", "not-client-mode"])
def test_no_banner_when_fresh_or_outside_client_mode(client, settings, superuser, mode):
    if mode == "fresh":
        settings.LOGOUT_SSO = {"HUB_URL": HUB_URL, "HUB_API_CREDENTIAL": "c"}
        fresh()

    response = client.get(admin_url("organization", "changelist"))

    assert shown_messages(response) == []
