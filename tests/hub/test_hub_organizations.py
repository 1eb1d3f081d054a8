"""``GET /sso/api/organizations/``: the organizations an application serves, with their
policies, as client-mode applications mirror them (``ETag`` / ``If-None-Match``)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from django.test import Client
from django.urls import include, path

from logout_sso.models import EmailDomain, LogoutPolicy, Organization
from tests.hub_receivers import Tenants, register_application

URL = "/sso/api/organizations/"

#: A URLconf without the admin (this module's), for ``admin_url``.
urlpatterns = [path("sso/", include("logout_sso.urls"))]


def get(client: Client, credential: str | None, **headers: str) -> Any:
    if credential is not None:
        headers["Authorization"] = f"Bearer {credential}"
    return client.get(URL, headers=headers)


def organizations(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    assert list(body) == ["organizations"]
    return list(body["organizations"])


def test_answers_the_organizations_of_the_application_with_their_policy(client, tenants):
    acme = tenants.acme
    EmailDomain.objects.create(organization=acme, domain="acme.example")
    EmailDomain.objects.create(organization=acme, domain="acme-corp.example")
    policy = acme.logout_policy
    policy.session_ttl = 120
    policy.post_logout_redirect_uris = "https://wiki.example.com/bye\nhttps://acme.example/"
    policy.save()
    acme.refresh_from_db()

    [answered] = organizations(get(client, tenants.wiki_credential))

    assert answered == {
        "id": acme.pk,
        "name": "Acme",
        "slug": "acme",
        "idp_organization_id": "org_acme",
        "connection": "",
        "auto_forward": False,
        "email_domains": ["acme-corp.example", "acme.example"],
        "admin_url": f"http://testserver/admin/logout_sso/organization/{acme.pk}/change/",
        "updated_at": max(acme.updated_at, policy.updated_at).isoformat(),
        "policy": {
            "federated_logout": False,
            "slo_mode": "short_lived_tokens",
            "session_ttl": 120,
            "post_logout_redirect_uris": ["https://wiki.example.com/bye", "https://acme.example/"],
        },
    }


def test_updated_at_is_the_later_of_the_organization_and_its_policy(client, tenants):
    tenants.acme.save()
    tenants.acme.logout_policy.save()
    tenants.acme.refresh_from_db()

    [answered] = organizations(get(client, tenants.wiki_credential))

    assert answered["updated_at"] == tenants.acme.logout_policy.updated_at.isoformat()


def test_another_tenants_organization_never_appears(client, tenants):
    register_application("both", tenants.acme, tenants.globex, client_id="both")

    wiki = organizations(get(client, tenants.wiki_credential))
    crm = organizations(get(client, tenants.crm_credential))

    assert [item["slug"] for item in wiki] == ["acme"]
    assert [item["slug"] for item in crm] == ["globex"]


def test_an_application_serving_nothing_gets_an_empty_list(client, tenants):
    tenants.crm.organizations.clear()

    assert organizations(get(client, tenants.crm_credential)) == []


@pytest.mark.parametrize(
    "credential",
    [None, "lsso_0123456789abcdef01_wrong", "not-a-credential"],
    ids=["none", "unknown", "malformed"],
)
def test_without_a_valid_credential_nothing_is_read(client, tenants, credential):
    response = get(client, credential)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="logout_sso"'
    assert response.json()["error"] == "invalid_token"
    assert b"acme" not in response.content


def test_a_credential_made_from_another_applications_id_is_refused(client, tenants):
    """The secret of one application with the public id of another reads neither."""
    wiki_id = tenants.wiki_credential.split("_")[1]
    crm_secret = tenants.crm_credential.split("_", 2)[2]

    response = get(client, f"lsso_{wiki_id}_{crm_secret}")

    assert response.status_code == 401


def test_a_disabled_application_reads_nothing(client, tenants):
    tenants.wiki.enabled = False
    tenants.wiki.save()

    assert get(client, tenants.wiki_credential).status_code == 401


# --- Versions: ETag and If-None-Match ----------------------------------------------------------


def test_the_etag_is_the_strong_digest_of_the_canonical_body(client, tenants):
    response = get(client, tenants.wiki_credential)

    body = response.content
    canonical = json.dumps(
        json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    assert response["ETag"] == f'"{hashlib.sha256(body).hexdigest()}"'
    assert body == canonical
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "private, no-cache"
    assert "Authorization" in response["Vary"]


@pytest.mark.parametrize(
    "if_none_match",
    ["{etag}", "W/{etag}", '"other", {etag}', '"other",{etag} , "more"', "*"],
    ids=["same", "weak", "in-a-list", "list-without-spaces", "any"],
)
def test_a_matching_if_none_match_is_answered_304_without_a_body(client, tenants, if_none_match):
    etag = get(client, tenants.wiki_credential)["ETag"]

    response = get(client, tenants.wiki_credential, If_None_Match=if_none_match.format(etag=etag))

    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag
    assert response["Cache-Control"] == "private, no-cache"


@pytest.mark.parametrize("if_none_match", ['"other"', 'W/"other"', "garbage", ""])
def test_another_version_is_answered_in_full(client, tenants, if_none_match):
    response = get(client, tenants.wiki_credential, If_None_Match=if_none_match)

    assert response.status_code == 200
    assert organizations(response)


def shorten_ttl(acme: Organization) -> None:
    LogoutPolicy.objects.filter(pk=acme.pk).update(session_ttl=60)


def add_domain(acme: Organization) -> None:
    EmailDomain.objects.create(organization=acme, domain="acme.example")


def add_connection(acme: Organization) -> None:
    Organization.objects.filter(pk=acme.pk).update(connection="acme-ad")


@pytest.mark.parametrize(
    "change", [shorten_ttl, add_domain, add_connection], ids=["policy", "email-domain", "org"]
)
def test_any_change_makes_a_new_version(client, tenants, change):
    etag = get(client, tenants.wiki_credential)["ETag"]

    change(tenants.acme)
    response = get(client, tenants.wiki_credential, If_None_Match=etag)

    assert response.status_code == 200
    assert response["ETag"] != etag


def test_a_change_to_another_tenant_keeps_the_version(client, tenants):
    etag = get(client, tenants.wiki_credential)["ETag"]

    EmailDomain.objects.create(organization=tenants.globex, domain="globex.example")

    assert get(client, tenants.wiki_credential, If_None_Match=etag).status_code == 304


# --- Methods, the admin's URL, queries -----------------------------------------------------------


def test_head_answers_the_headers_only(client, tenants):
    etag = get(client, tenants.wiki_credential)["ETag"]

    response = client.head(URL, headers={"Authorization": f"Bearer {tenants.wiki_credential}"})

    assert response.status_code == 200
    assert response.content == b""
    assert response["ETag"] == etag


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_other_methods_are_refused_in_json(client, tenants, method):
    response = client.generic(
        method, URL, headers={"Authorization": f"Bearer {tenants.wiki_credential}"}
    )

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json() == {"error": "invalid_request", "error_description": "Use GET, HEAD."}


def test_without_the_admin_the_admin_url_is_empty(client, tenants, settings):
    settings.ROOT_URLCONF = __name__

    [answered] = organizations(get(client, tenants.wiki_credential))

    assert answered["admin_url"] == ""


def test_the_queries_do_not_grow_with_the_organizations(
    client, tenants: Tenants, django_assert_num_queries
):
    """The credential, the organizations with their policies, their email domains."""
    with django_assert_num_queries(3):
        assert len(organizations(get(client, tenants.wiki_credential))) == 1
    many = [
        Organization.objects.create(slug=f"org-{number}", name=f"Org {number}")
        for number in range(30)
    ]
    for organization in many:
        EmailDomain.objects.create(organization=organization, domain=f"{organization.slug}.example")
    tenants.wiki.organizations.add(*many)

    with django_assert_num_queries(3):
        assert len(organizations(get(client, tenants.wiki_credential))) == 31
