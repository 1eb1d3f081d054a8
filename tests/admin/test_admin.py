"""The Django admin of logout_sso, as organization admins and superusers see it.

The main point is scoping: an organization admin reaches their own organizations' objects and
nothing of any other organization, whatever the URL, form choice, filter or search.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import messages
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.forms import BooleanField
from django.test import Client
from django.urls import reverse

from logout_sso.models import (
    Application,
    Delivery,
    LogoutEvent,
    LogoutPolicy,
    Organization,
    TrackedSession,
)
from logout_sso.models.events import DeliveryState, Initiator
from logout_sso.models.organizations import SLOMode

ISSUER = "https://idp.example.com/"
CREDENTIAL = re.compile(r'<code class="logout-sso-credential">([^<]+)</code>')


@dataclass
class Tenant:
    """One organization and one object of each kind belonging to it."""

    organization: Organization
    application: Application
    session: TrackedSession
    event: LogoutEvent
    delivery: Delivery

    def object(self, model: str) -> Any:
        return {
            "organization": self.organization,
            "application": self.application,
            "trackedsession": self.session,
            "logoutevent": self.event,
        }[model]


@dataclass
class World:
    a: Tenant
    b: Tenant
    alice: User
    bob: User
    root: User


@pytest.fixture
def make_tenant(
    make_organization: Callable[..., Organization],
    make_application: Callable[..., Application],
) -> Callable[..., Tenant]:
    """An organization with an application, a session of ``user``, and a logout event of that
    user delivered to the application."""

    def make(slug: str, app_name: str, user: str) -> Tenant:
        organization = make_organization(slug)
        application = make_application(app_name, organization)
        session = TrackedSession.objects.create(
            application=application,
            organization=organization,
            issuer=ISSUER,
            sub=f"auth0|{user}",
            sid=f"sid-{slug}",
            session_id=f"{slug}-session-1",
            email=f"{user}@{slug}.example",
        )
        event = LogoutEvent.objects.create(
            organization=organization,
            initiator=Initiator.USER,
            issuer=ISSUER,
            sub=f"auth0|{user}",
            sid=f"sid-{slug}",
        )
        delivery = Delivery.objects.create(
            event=event,
            application=application,
            state=DeliveryState.DELIVERED,
            attempts=3,
            last_status=200,
            latency_ms=42,
        )
        return Tenant(organization, application, session, event, delivery)

    return make


@pytest.fixture
def world(make_tenant: Callable[..., Tenant], make_org_admin: Callable[..., User]) -> World:
    """acme (A, managed by alice) and globex (B, managed by bob), and a superuser."""
    a = make_tenant("acme", "acme-crm", "carol")
    b = make_tenant("globex", "globex-erp", "dave")
    return World(
        a=a,
        b=b,
        alice=make_org_admin("alice", a.organization),
        bob=make_org_admin("bob", b.organization),
        root=User.objects.create_superuser("root", password="pw"),
    )


@pytest.fixture
def alices_second_org(world: World, make_tenant: Callable[..., Tenant]) -> Tenant:
    """initech, also managed by alice: with two organizations, list filters are shown."""
    initech = make_tenant("initech", "initech-hr", "erin")
    initech.organization.admins.add(world.alice)
    return initech


@pytest.fixture
def shared_app(world: World, make_application: Callable[..., Application]) -> Application:
    """An application used by both acme and globex."""
    return make_application("shared-wiki", world.a.organization, world.b.organization)


def logged_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def admin_url(model: str, view: str, *args: Any) -> str:
    return reverse(f"admin:logout_sso_{model}_{view}", args=args)


def form_data(response: Any) -> dict[str, Any]:
    """The POST data of an admin add/change page as rendered: the main form, then every inline
    formset with its management form, each field at its displayed value."""
    forms = [response.context["adminform"].form]
    data: dict[str, Any] = {}
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        forms.extend(inline.formset.forms)
    for form in forms:
        for field in form:
            value = field.value()
            if value is None or (isinstance(field.field, BooleanField) and not value):
                continue  # what a browser sends for an empty select or unticked checkbox
            if isinstance(field.field, BooleanField):
                data[field.html_name] = "on"
            elif isinstance(value, list | tuple):
                data[field.html_name] = [str(item) for item in value]
            else:
                data[field.html_name] = str(value)
    return data


def change_form_data(client: Client, model: str, obj: Any, **changes: Any) -> dict[str, Any]:
    response = client.get(admin_url(model, "change", obj.pk))
    assert response.status_code == 200
    return {**form_data(response), **changes}


def changelist(client: Client, model: str, **query: Any) -> Any:
    response = client.get(admin_url(model, "changelist"), query)
    assert response.status_code == 200
    return response


def listed(response: Any) -> set[Any]:
    return set(response.context["cl"].result_list)


def filter_choices(response: Any, field_path: str) -> list[str]:
    """The labels a list filter offers."""
    for spec in response.context["cl"].filter_specs:
        if spec.field_path == field_path:
            return [str(label) for _value, label in spec.lookup_choices]
    raise AssertionError(f"no list filter on {field_path} is shown")


def shown_messages(response: Any) -> list[tuple[int, str]]:
    return [(message.level, str(message)) for message in response.context["messages"]]


def row_of(html: str, text: str) -> dict[str, str]:
    """The cells of the one table row containing ``text``, as ``{column: displayed text}``."""
    rows = [row for row in re.findall(r"<tr.*?</tr>", html, re.DOTALL) if text in row]
    assert len(rows) == 1, f"expected one row with {text!r}, found {len(rows)}"
    cells = re.findall(r'<t[dh] class="field-(\w+)">(.*?)</t[dh]>', rows[0], re.DOTALL)
    return {column: shown_text(cell) for column, cell in cells}


def shown_text(cell: str) -> str:
    """What a browser shows of an HTML fragment: its text, or an icon's alt text."""
    cell = re.sub(r'<img[^>]*alt="([^"]*)"[^>]*>', r"\1", cell)
    return " ".join(re.sub(r"<[^>]+>", " ", cell).split())


# --- Scoping: object URLs -------------------------------------------------------------------

MODELS = ["organization", "application", "trackedsession", "logoutevent"]
OBJECT_VIEWS = ["change", "delete", "history"]
OBJECT_URLS = [(model, view) for model in MODELS for view in OBJECT_VIEWS]


@pytest.mark.parametrize(("model", "view"), OBJECT_URLS)
def test_org_admin_cannot_open_any_page_of_another_organizations_object(
    client: Client, world: World, model: str, view: str
) -> None:
    logged_in(client, world.alice)

    response = client.get(admin_url(model, view, world.b.object(model).pk))

    assert response.status_code in (403, 404)


@pytest.mark.parametrize(("model", "view"), OBJECT_URLS)
def test_another_organizations_object_answers_like_a_missing_one(
    client: Client, world: World, model: str, view: str
) -> None:
    logged_in(client, world.alice)
    missing_pk = 1_000_000

    foreign = client.get(admin_url(model, view, world.b.object(model).pk))
    missing = client.get(admin_url(model, view, missing_pk))

    assert foreign.status_code == missing.status_code == 404


# What the owner (alice, admin of acme) and a superuser get on acme's objects. Deleting is
# refused with 403 on read-only records (sessions, events) and, for org admins, on
# organizations (creating or deleting organizations stays with superusers).
OWN_OBJECT_STATUS = [
    ("organization", "change", 200, 200),
    ("organization", "history", 200, 200),
    ("organization", "delete", 403, 200),
    ("application", "change", 200, 200),
    ("application", "history", 200, 200),
    ("application", "delete", 200, 200),
    ("trackedsession", "change", 200, 200),
    ("trackedsession", "history", 200, 200),
    ("trackedsession", "delete", 403, 403),
    ("logoutevent", "change", 200, 200),
    ("logoutevent", "history", 200, 200),
    ("logoutevent", "delete", 403, 403),
]


@pytest.mark.parametrize(("model", "view", "owner_status", "_superuser_status"), OWN_OBJECT_STATUS)
def test_org_admin_opens_their_own_organizations_objects(
    client: Client, world: World, model: str, view: str, owner_status: int, _superuser_status: int
) -> None:
    logged_in(client, world.alice)

    response = client.get(admin_url(model, view, world.a.object(model).pk))

    assert response.status_code == owner_status


@pytest.mark.parametrize("tenant", ["a", "b"])
@pytest.mark.parametrize(("model", "view", "_owner_status", "superuser_status"), OWN_OBJECT_STATUS)
def test_superuser_opens_every_organizations_objects(
    client: Client,
    world: World,
    tenant: str,
    model: str,
    view: str,
    _owner_status: int,
    superuser_status: int,
) -> None:
    logged_in(client, world.root)
    obj = getattr(world, tenant).object(model)

    response = client.get(admin_url(model, view, obj.pk))

    assert response.status_code == superuser_status


def test_posting_to_another_organizations_change_page_changes_nothing(
    client: Client, world: World
) -> None:
    globex = world.b.organization
    data = change_form_data(
        logged_in(client, world.root),
        "organization",
        globex,
        name="Hijacked",
        admins=[str(world.alice.pk)],
        **{"logout_policy-0-federated_logout": "on"},
    )
    logged_in(client, world.alice)

    response = client.post(admin_url("organization", "change", globex.pk), data)

    assert response.status_code in (403, 404)
    globex.refresh_from_db()
    assert globex.name == "Globex"
    assert not globex.admins.filter(pk=world.alice.pk).exists()
    assert not LogoutPolicy.objects.get(pk=globex.pk).federated_logout


def test_posting_to_another_organizations_application_delete_page_deletes_nothing(
    client: Client, world: World
) -> None:
    logged_in(client, world.alice)

    response = client.post(
        admin_url("application", "delete", world.b.application.pk), {"post": "yes"}
    )

    assert response.status_code in (403, 404)
    assert Application.objects.filter(pk=world.b.application.pk).exists()


def test_org_admin_cannot_add_an_organization(client: Client, world: World) -> None:
    logged_in(client, world.alice)

    response = client.get(admin_url("organization", "add"))

    assert response.status_code == 403


# --- Scoping: change lists, search, filters -----------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_changelist_shows_only_own_organizations_objects(
    client: Client, world: World, model: str
) -> None:
    logged_in(client, world.alice)

    response = changelist(client, model)

    assert listed(response) == {world.a.object(model)}


@pytest.mark.parametrize("model", MODELS)
def test_superuser_changelist_shows_every_organizations_objects(
    client: Client, world: World, model: str
) -> None:
    logged_in(client, world.root)

    response = changelist(client, model)

    assert listed(response) == {world.a.object(model), world.b.object(model)}


def test_other_org_admin_sees_only_their_organization(client: Client, world: World) -> None:
    logged_in(client, world.bob)

    response = changelist(client, "organization")

    assert listed(response) == {world.b.organization}


SEARCH_FIELDS = ["sub", "sid", "email"]


@pytest.mark.parametrize(
    "own_value", ["auth0|carol", "sid-acme", "carol@acme.example"], ids=SEARCH_FIELDS
)
def test_session_search_by_sub_sid_or_email_finds_own_session(
    client: Client, world: World, own_value: str
) -> None:
    logged_in(client, world.alice)

    response = changelist(client, "trackedsession", q=own_value)

    assert listed(response) == {world.a.session}


FOREIGN_SEARCHES = pytest.mark.parametrize(
    "foreign_value", ["auth0|dave", "sid-globex", "dave@globex.example"], ids=SEARCH_FIELDS
)


@FOREIGN_SEARCHES
def test_superuser_search_finds_any_organizations_session(
    client: Client, world: World, foreign_value: str
) -> None:
    logged_in(client, world.root)

    response = changelist(client, "trackedsession", q=foreign_value)

    assert listed(response) == {world.b.session}


@FOREIGN_SEARCHES
def test_session_search_never_finds_another_organizations_session(
    client: Client, world: World, foreign_value: str
) -> None:
    logged_in(client, world.alice)

    response = changelist(client, "trackedsession", q=foreign_value)

    assert listed(response) == set()
    assert "0 results" in response.content.decode()


def test_session_search_matching_both_organizations_stays_scoped(
    client: Client, world: World
) -> None:
    logged_in(client, world.alice)

    response = changelist(client, "trackedsession", q=".example")

    assert listed(response) == {world.a.session}


ORGANIZATION_FILTERS = [
    ("application", "organizations"),
    ("trackedsession", "organization"),
    ("logoutevent", "organization"),
]


@pytest.mark.parametrize(("model", "field_path"), ORGANIZATION_FILTERS)
def test_organization_filter_offers_only_own_organizations(
    client: Client, world: World, alices_second_org: Tenant, model: str, field_path: str
) -> None:
    logged_in(client, world.alice)

    response = changelist(client, model)

    assert "Globex" not in filter_choices(response, field_path)
    assert {"Acme", "Initech"} <= set(filter_choices(response, field_path))


@pytest.mark.parametrize(("model", "field_path"), ORGANIZATION_FILTERS)
def test_organization_filter_offers_every_organization_to_a_superuser(
    client: Client, world: World, alices_second_org: Tenant, model: str, field_path: str
) -> None:
    logged_in(client, world.root)

    response = changelist(client, model)

    assert {"Acme", "Globex", "Initech"} <= set(filter_choices(response, field_path))


def test_application_filter_of_sessions_offers_only_own_applications(
    client: Client, world: World, alices_second_org: Tenant
) -> None:
    logged_in(client, world.alice)

    response = changelist(client, "trackedsession")

    assert filter_choices(response, "application") == ["acme-crm", "initech-hr"]


def test_filtering_by_another_organization_shows_nothing_of_it(
    client: Client, world: World
) -> None:
    logged_in(client, world.alice)

    response = changelist(client, "trackedsession", organization__id__exact=world.b.organization.pk)

    assert world.b.session not in listed(response)


# --- Scoping: form choices ----------------------------------------------------------------


def test_application_form_offers_only_own_organizations(client: Client, world: World) -> None:
    logged_in(client, world.alice)

    response = client.get(admin_url("application", "add"))

    choices = response.context["adminform"].form.fields["organizations"].queryset
    assert list(choices) == [world.a.organization]
    assert "Globex" not in response.content.decode()


def application_post(*organizations: Organization, name: str = "new-app") -> dict[str, Any]:
    return {
        "name": name,
        "client_id": f"{name}-client",
        "organizations": [str(organization.pk) for organization in organizations],
        "enabled": "on",
        "backchannel_logout_uri": f"https://{name}.example.com/bcl",
    }


def test_adding_an_application_to_another_organization_is_a_form_error(
    client: Client, world: World
) -> None:
    logged_in(client, world.alice)

    response = client.post(admin_url("application", "add"), application_post(world.b.organization))

    assert response.status_code == 200
    assert "organizations" in response.context["adminform"].form.errors
    assert not Application.objects.filter(name="new-app").exists()


def test_moving_own_application_to_another_organization_is_a_form_error(
    client: Client, world: World
) -> None:
    application = world.a.application
    logged_in(client, world.alice)
    data = change_form_data(
        client, "application", application, organizations=[str(world.b.organization.pk)]
    )

    response = client.post(admin_url("application", "change", application.pk), data)

    assert response.status_code == 200
    assert "organizations" in response.context["adminform"].form.errors
    assert list(application.organizations.all()) == [world.a.organization]


def test_organization_autocomplete_offers_only_own_organizations(
    client: Client, world: World
) -> None:
    logged_in(client, world.alice)

    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "logout_sso", "model_name": "application", "field_name": "organizations"},
    )

    assert [result["text"] for result in response.json()["results"]] == ["Acme"]


# --- Applications shared between organizations -------------------------------------------


def test_shared_application_is_listed_for_each_organizations_admin(
    client: Client, world: World, shared_app: Application
) -> None:
    logged_in(client, world.alice)

    response = changelist(client, "application")

    assert listed(response) == {world.a.application, shared_app}


def test_shared_application_does_not_bring_its_other_organization_into_the_filter(
    client: Client, world: World, shared_app: Application, alices_second_org: Tenant
) -> None:
    logged_in(client, world.alice)

    response = changelist(client, "application")

    assert filter_choices(response, "organizations") == ["Acme", "Initech"]


def test_shared_application_page_does_not_name_other_organizations(
    client: Client, world: World, shared_app: Application
) -> None:
    logged_in(client, world.alice)

    response = client.get(admin_url("application", "change", shared_app.pk))

    assert "Globex" not in response.content.decode()


def test_shared_application_is_read_only_for_an_admin_of_one_of_its_organizations(
    client: Client, world: World, shared_app: Application
) -> None:
    logged_in(client, world.alice)

    response = client.get(admin_url("application", "change", shared_app.pk))

    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert 'name="_save"' not in response.content.decode()


def test_changing_a_shared_application_is_refused(
    client: Client, world: World, shared_app: Application
) -> None:
    data = change_form_data(
        logged_in(client, world.root),
        "application",
        shared_app,
        name="renamed",
        organizations=[str(world.a.organization.pk)],
    )
    logged_in(client, world.alice)

    response = client.post(admin_url("application", "change", shared_app.pk), data)

    assert response.status_code == 403
    shared_app.refresh_from_db()
    assert shared_app.name == "shared-wiki"
    assert shared_app.organizations.count() == 2


def test_deleting_a_shared_application_is_refused(
    client: Client, world: World, shared_app: Application
) -> None:
    logged_in(client, world.alice)

    page = client.get(admin_url("application", "delete", shared_app.pk))
    post = client.post(admin_url("application", "delete", shared_app.pk), {"post": "yes"})

    assert page.status_code == post.status_code == 403
    assert Application.objects.filter(pk=shared_app.pk).exists()


def test_deleting_a_shared_application_from_the_changelist_is_refused(
    client: Client, world: World, shared_app: Application
) -> None:
    logged_in(client, world.alice)

    response = client.post(
        admin_url("application", "changelist"),
        {"action": "delete_selected", "_selected_action": [shared_app.pk], "post": "yes"},
    )

    assert response.status_code == 403
    assert Application.objects.filter(pk=shared_app.pk).exists()


def test_superuser_changes_a_shared_application(
    client: Client, world: World, shared_app: Application
) -> None:
    logged_in(client, world.root)
    data = change_form_data(client, "application", shared_app, name="renamed")

    response = client.post(admin_url("application", "change", shared_app.pk), data)

    assert response.status_code == 302
    shared_app.refresh_from_db()
    assert shared_app.name == "renamed"


# --- Deleting ------------------------------------------------------------------------------


def test_org_admin_deletes_own_application_with_its_sessions(client: Client, world: World) -> None:
    application = world.a.application
    logged_in(client, world.alice)

    response = client.post(admin_url("application", "delete", application.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Application.objects.filter(pk=application.pk).exists()
    assert not TrackedSession.objects.filter(pk=world.a.session.pk).exists()
    assert Application.objects.filter(pk=world.b.application.pk).exists()


def test_application_delete_page_lists_its_sessions_without_refusing(
    client: Client, world: World
) -> None:
    logged_in(client, world.alice)

    response = client.get(admin_url("application", "delete", world.a.application.pk))

    assert response.status_code == 200
    assert response.context["perms_lacking"] == set()
    assert "auth0|carol" in response.content.decode()


def test_org_admin_cannot_delete_own_organization(client: Client, world: World) -> None:
    acme = world.a.organization
    logged_in(client, world.alice)

    response = client.post(admin_url("organization", "delete", acme.pk), {"post": "yes"})

    assert response.status_code == 403
    assert Organization.objects.filter(pk=acme.pk).exists()


def test_superuser_deletes_an_organization_with_its_history(client: Client, world: World) -> None:
    globex = world.b.organization
    logged_in(client, world.root)

    response = client.post(admin_url("organization", "delete", globex.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Organization.objects.filter(pk=globex.pk).exists()
    assert not LogoutEvent.objects.filter(pk=world.b.event.pk).exists()
    assert not TrackedSession.objects.filter(pk=world.b.session.pk).exists()
    assert Organization.objects.filter(pk=world.a.organization.pk).exists()


@pytest.mark.parametrize("model", ["trackedsession", "logoutevent"])
def test_read_only_records_cannot_be_deleted_by_hand(
    client: Client, world: World, model: str
) -> None:
    record = world.a.object(model)
    logged_in(client, world.root)

    response = client.post(admin_url(model, "delete", record.pk), {"post": "yes"})

    assert response.status_code == 403
    assert type(record).objects.filter(pk=record.pk).exists()


# --- Organization admins (who manages whom) -----------------------------------------------


def test_org_admin_sees_admins_as_read_only(client: Client, world: World) -> None:
    logged_in(client, world.alice)

    response = client.get(admin_url("organization", "change", world.a.organization.pk))

    assert "admins" not in response.context["adminform"].form.fields
    assert 'name="admins"' not in response.content.decode()


def test_org_admin_cannot_change_admins_by_posting_them(client: Client, world: World) -> None:
    acme = world.a.organization
    logged_in(client, world.alice)
    data = change_form_data(
        client, "organization", acme, admins=[str(world.alice.pk), str(world.bob.pk)]
    )

    response = client.post(admin_url("organization", "change", acme.pk), data)

    assert response.status_code == 302
    assert set(acme.admins.all()) == {world.alice}


def test_superuser_changes_admins(client: Client, world: World) -> None:
    acme = world.a.organization
    logged_in(client, world.root)
    data = change_form_data(
        client, "organization", acme, admins=[str(world.alice.pk), str(world.bob.pk)]
    )

    response = client.post(admin_url("organization", "change", acme.pk), data)

    assert response.status_code == 302
    assert set(acme.admins.all()) == {world.alice, world.bob}


# --- What binds an organization to its IdP: superusers only -------------------------------


def test_org_admin_sees_identity_fields_read_only(client: Client, world: World) -> None:
    logged_in(client, world.alice)

    response = client.get(admin_url("organization", "change", world.a.organization.pk))

    fields = response.context["adminform"].form.fields
    assert not {"slug", "idp_organization_id", "connection"} & set(fields)
    assert "auto_forward" in fields
    domains = next(
        inline
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.prefix == "email_domains"
    )
    assert not domains.has_add_permission
    assert not domains.has_change_permission
    assert not domains.has_delete_permission


def test_org_admin_cannot_take_another_tenants_idp_id_by_posting_it(
    client: Client, world: World
) -> None:
    """Reproduced: Acme's admin set Acme's slug to Globex's IdP id, which then routed Globex's
    sessions, logouts and logins to Acme."""
    acme = world.a.organization
    Organization.objects.filter(pk=world.b.organization.pk).update(idp_organization_id="org_globex")
    logged_in(client, world.alice)
    data = change_form_data(
        client,
        "organization",
        acme,
        slug="org_globex",
        idp_organization_id="org_globex",
        connection="globex-okta",
    )

    response = client.post(admin_url("organization", "change", acme.pk), data)

    assert response.status_code == 302
    acme.refresh_from_db()
    assert (acme.slug, acme.idp_organization_id, acme.connection) == ("acme", "", "")


def test_org_admin_cannot_claim_an_email_domain_by_posting_one(
    client: Client, world: World
) -> None:
    acme = world.a.organization
    logged_in(client, world.alice)
    data = change_form_data(client, "organization", acme)
    data.update({"email_domains-TOTAL_FORMS": "1", "email_domains-0-domain": "globex.example"})

    client.post(admin_url("organization", "change", acme.pk), data)

    assert not acme.email_domains.exists()


def test_superuser_is_told_an_identifier_is_taken_without_naming_its_owner(
    client: Client, world: World
) -> None:
    Organization.objects.filter(pk=world.b.organization.pk).update(idp_organization_id="org_globex")
    acme = world.a.organization
    logged_in(client, world.root)
    data = change_form_data(client, "organization", acme, slug="org_globex")

    response = client.post(admin_url("organization", "change", acme.pk), data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["slug"] == [
        "org_globex is already the slug or IdP organization id of another organization: "
        "each value names one organization."
    ]
    assert "Globex" not in str(errors)
    acme.refresh_from_db()
    assert acme.slug == "acme"


def test_org_admin_sees_shares_session_store_read_only(client: Client, world: World) -> None:
    application = world.a.application
    logged_in(client, world.alice)
    data = change_form_data(client, "application", application, shares_session_store="on")

    response = client.post(admin_url("application", "change", application.pk), data)

    assert response.status_code == 302
    application.refresh_from_db()
    assert application.shares_session_store is False
    page = client.get(admin_url("application", "change", application.pk))
    assert "shares_session_store" not in page.context["adminform"].form.fields


def test_superuser_marks_an_application_as_sharing_the_session_store(
    client: Client, world: World
) -> None:
    application = world.a.application
    logged_in(client, world.root)
    data = change_form_data(client, "application", application, shares_session_store="on")

    client.post(admin_url("application", "change", application.pk), data)

    application.refresh_from_db()
    assert application.shares_session_store is True


# --- Organizations with their policy inline -----------------------------------------------


def test_organization_add_form_has_policy_and_domain_inlines(client: Client, world: World) -> None:
    logged_in(client, world.root)

    response = client.get(admin_url("organization", "add"))

    formsets = {
        inline.formset.prefix: inline.formset
        for inline in response.context["inline_admin_formsets"]
    }
    assert set(formsets) == {"logout_policy", "email_domains"}
    assert len(formsets["logout_policy"].forms) == 1
    assert {"slo_mode", "session_ttl", "federated_logout"} <= set(
        formsets["logout_policy"].forms[0].fields
    )


def test_superuser_adds_organization_with_policy_from_the_inline(
    client: Client, world: World
) -> None:
    logged_in(client, world.root)
    data = form_data(client.get(admin_url("organization", "add")))
    data.update(
        {
            "name": "Initech",
            "slug": "initech",
            "logout_policy-0-slo_mode": SLOMode.LOGOUT_SERVICE,
            "logout_policy-0-session_ttl": "3600",
            "logout_policy-0-federated_logout": "on",
            "logout_policy-0-post_logout_redirect_uris": "https://initech.example.com/bye",
            "email_domains-TOTAL_FORMS": "1",
            "email_domains-0-domain": "initech.example",
        }
    )

    response = client.post(admin_url("organization", "add"), data)

    assert response.status_code == 302, response.context and response.context.get("errors")
    initech = Organization.objects.get(slug="initech")
    policies = LogoutPolicy.objects.filter(organization=initech)
    assert policies.count() == 1
    policy = policies.get()
    assert policy.slo_mode == SLOMode.LOGOUT_SERVICE
    assert policy.session_ttl == 3600
    assert policy.federated_logout is True
    assert policy.post_logout_redirect_uri_list == ["https://initech.example.com/bye"]
    assert [domain.domain for domain in initech.email_domains.all()] == ["initech.example"]


def test_superuser_adds_organization_with_default_policy(client: Client, world: World) -> None:
    logged_in(client, world.root)
    data = form_data(client.get(admin_url("organization", "add")))
    data.update({"name": "Initech", "slug": "initech"})

    response = client.post(admin_url("organization", "add"), data)

    assert response.status_code == 302
    policy = LogoutPolicy.objects.get(organization__slug="initech")
    assert policy.slo_mode == SLOMode.SHORT_LIVED_TOKENS
    assert policy.session_ttl == 600


def test_org_admin_edits_their_policy_through_the_inline(client: Client, world: World) -> None:
    acme = world.a.organization
    logged_in(client, world.alice)
    data = change_form_data(
        client,
        "organization",
        acme,
        **{
            "logout_policy-0-slo_mode": SLOMode.LOGOUT_SERVICE,
            "logout_policy-0-session_ttl": "7200",
        },
    )

    response = client.post(admin_url("organization", "change", acme.pk), data)

    assert response.status_code == 302
    policy = LogoutPolicy.objects.get(pk=acme.pk)
    assert policy.slo_mode == SLOMode.LOGOUT_SERVICE
    assert policy.session_ttl == 7200
    assert LogoutPolicy.objects.filter(organization=acme).count() == 1


def test_long_ttl_with_short_lived_tokens_is_a_form_error(client: Client, world: World) -> None:
    acme = world.a.organization
    logged_in(client, world.alice)
    data = change_form_data(
        client,
        "organization",
        acme,
        name="Acme Renamed",
        **{
            "logout_policy-0-slo_mode": SLOMode.SHORT_LIVED_TOKENS,
            "logout_policy-0-session_ttl": "1200",
        },
    )

    response = client.post(admin_url("organization", "change", acme.pk), data)

    assert response.status_code == 200
    assert "at most 15 minutes" in response.content.decode()
    acme.refresh_from_db()
    assert acme.name == "Acme"
    assert LogoutPolicy.objects.get(pk=acme.pk).session_ttl == 600


def test_long_ttl_with_short_lived_tokens_is_a_form_error_when_adding(
    client: Client, world: World
) -> None:
    logged_in(client, world.root)
    data = form_data(client.get(admin_url("organization", "add")))
    data.update(
        {
            "name": "Initech",
            "slug": "initech",
            "logout_policy-0-slo_mode": SLOMode.SHORT_LIVED_TOKENS,
            "logout_policy-0-session_ttl": "1200",
        }
    )

    response = client.post(admin_url("organization", "add"), data)

    assert response.status_code == 200
    assert "at most 15 minutes" in response.content.decode()
    assert not Organization.objects.filter(slug="initech").exists()


TRAP = {"auto_forward": "on", "logout_policy-0-slo_mode": SLOMode.SHORT_LIVED_TOKENS}


def with_connection(organization: Organization) -> Organization:
    """What a superuser set: the enterprise connection an organization's admin may forward to."""
    Organization.objects.filter(pk=organization.pk).update(connection="acme-okta")
    organization.refresh_from_db()
    return organization


def test_saving_the_auto_forward_trap_warns_about_federated_logout(
    client: Client, world: World
) -> None:
    acme = with_connection(world.a.organization)
    logged_in(client, world.alice)
    data = change_form_data(client, "organization", acme, **TRAP)

    response = client.post(admin_url("organization", "change", acme.pk), data, follow=True)

    warnings = [text for level, text in shown_messages(response) if level == messages.WARNING]
    assert len(warnings) == 1
    assert "federated logout" in warnings[0]
    assert "acme" in warnings[0]


def test_save_and_continue_editing_warns_of_the_trap_once(client: Client, world: World) -> None:
    """The save warns, and so does the page it reopens: one warning, not the same one twice."""
    acme = with_connection(world.a.organization)
    logged_in(client, world.alice)
    data = change_form_data(client, "organization", acme, **TRAP, _continue="1")

    response = client.post(admin_url("organization", "change", acme.pk), data, follow=True)

    assert response.redirect_chain == [(admin_url("organization", "change", acme.pk), 302)]
    warnings = [text for level, text in shown_messages(response) if level == messages.WARNING]
    assert len(warnings) == 1
    assert "federated logout" in warnings[0]


def test_saving_auto_forward_with_federated_logout_does_not_warn(
    client: Client, world: World
) -> None:
    acme = with_connection(world.a.organization)
    logged_in(client, world.alice)
    data = change_form_data(
        client, "organization", acme, **TRAP, **{"logout_policy-0-federated_logout": "on"}
    )

    response = client.post(admin_url("organization", "change", acme.pk), data, follow=True)

    assert [level for level, _text in shown_messages(response)] == [messages.SUCCESS]


def test_adding_an_organization_in_the_trap_warns(client: Client, world: World) -> None:
    logged_in(client, world.root)
    data = form_data(client.get(admin_url("organization", "add")))
    data.update({"name": "Initech", "slug": "initech", **TRAP, "connection": "initech-adfs"})

    response = client.post(admin_url("organization", "add"), data, follow=True)

    warnings = [text for level, text in shown_messages(response) if level == messages.WARNING]
    assert len(warnings) == 1
    assert "federated logout" in warnings[0]


def test_single_logout_column_shows_the_trap_as_a_warning_badge(
    client: Client, world: World
) -> None:
    Organization.objects.filter(pk=world.b.organization.pk).update(
        connection="globex-okta", auto_forward=True
    )
    logged_in(client, world.root)

    html = changelist(client, "organization").content.decode()

    assert row_of(html, ">Acme</a>")["single_logout_works"] == "-"
    assert row_of(html, ">Globex</a>")["single_logout_works"] == "⚠ auto-forward trap"
    # Not the red cross of a deliberate "federated: off".
    assert row_of(html, ">Globex</a>")["federated_logout"] == "False"


def test_reopening_an_organization_in_the_trap_warns_again(client: Client, world: World) -> None:
    Organization.objects.filter(pk=world.b.organization.pk).update(
        connection="globex-okta", auto_forward=True
    )
    logged_in(client, world.root)

    response = client.get(admin_url("organization", "change", world.b.organization.pk))

    warnings = [text for level, text in shown_messages(response) if level == messages.WARNING]
    assert len(warnings) == 1
    assert "federated logout" in warnings[0]
    response = client.get(admin_url("organization", "change", world.a.organization.pk))
    assert not [text for level, text in shown_messages(response) if level == messages.WARNING]


def test_slo_effective_column_follows_a_saved_fix(client: Client, world: World) -> None:
    acme = with_connection(world.a.organization)
    logged_in(client, world.alice)
    client.post(
        admin_url("organization", "change", acme.pk),
        change_form_data(client, "organization", acme, **TRAP),
    )
    trapped = row_of(changelist(client, "organization").content.decode(), ">Acme</a>")

    client.post(
        admin_url("organization", "change", acme.pk),
        change_form_data(
            client, "organization", acme, **TRAP, **{"logout_policy-0-federated_logout": "on"}
        ),
    )
    fixed = row_of(changelist(client, "organization").content.decode(), ">Acme</a>")

    assert trapped["single_logout_works"] == "⚠ auto-forward trap"
    assert fixed["single_logout_works"] == "-"


# --- Applications: credentials shown once -------------------------------------------------


def test_adding_an_application_shows_its_credential_once(client: Client, world: World) -> None:
    logged_in(client, world.alice)

    response = client.post(admin_url("application", "add"), application_post(world.a.organization))

    assert response.status_code == 200
    credentials = CREDENTIAL.findall(response.content.decode())
    assert len(credentials) == 1
    assert credentials[0].startswith("lsso_")
    assert "no-store" in [part.strip() for part in response["Cache-Control"].split(",")]
    application = Application.objects.get(name="new-app")
    assert list(application.organizations.all()) == [world.a.organization]
    again = client.get(admin_url("application", "change", application.pk))
    assert credentials[0] not in again.content.decode()


def test_added_applications_credential_authenticates(client: Client, world: World) -> None:
    logged_in(client, world.alice)

    response = client.post(admin_url("application", "add"), application_post(world.a.organization))

    [token] = CREDENTIAL.findall(response.content.decode())
    assert Application.authenticate(token) == Application.objects.get(name="new-app")


def test_added_applications_credential_is_not_stored(client: Client, world: World) -> None:
    logged_in(client, world.alice)

    response = client.post(admin_url("application", "add"), application_post(world.a.organization))

    [token] = CREDENTIAL.findall(response.content.decode())
    secret = token.split("_", 2)[2]  # the secret itself may contain "_"
    row = Application.objects.filter(name="new-app").values().get()
    for column, value in row.items():
        assert secret not in str(value), column
    for entry in LogEntry.objects.values():
        assert secret not in str(entry)


def rotate(client: Client, *applications: Application) -> Any:
    return client.post(
        admin_url("application", "changelist"),
        {
            "action": "rotate_credentials",
            "_selected_action": [application.pk for application in applications],
        },
    )


def test_rotating_credentials_shows_a_new_one_and_the_old_stops_working(
    client: Client, world: World
) -> None:
    application, old_token = Application.objects.create_with_credential(
        name="rotated", client_id="rotated-client"
    )
    application.organizations.set([world.a.organization])
    logged_in(client, world.alice)

    response = rotate(client, application)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    [new_token] = CREDENTIAL.findall(response.content.decode())
    assert new_token.startswith("lsso_")
    assert new_token != old_token
    assert Application.authenticate(old_token) is None
    assert Application.authenticate(new_token) == application


def test_org_admin_cannot_rotate_a_shared_applications_credential(
    client: Client, world: World
) -> None:
    shared, token = Application.objects.create_with_credential(
        name="shared-wiki", client_id="shared-wiki-client"
    )
    shared.organizations.set([world.a.organization, world.b.organization])
    logged_in(client, world.alice)

    response = rotate(client, shared, world.a.application)

    html = response.content.decode()
    assert len(CREDENTIAL.findall(html)) == 1
    assert "acme-crm" in html
    assert "shared-wiki" not in html
    assert Application.authenticate(token) == shared


def test_rotating_only_a_shared_application_says_why_nothing_changed(
    client: Client, world: World
) -> None:
    shared, token = Application.objects.create_with_credential(
        name="shared-wiki", client_id="shared-wiki-client"
    )
    shared.organizations.set([world.a.organization, world.b.organization])
    logged_in(client, world.alice)

    response = rotate(client, shared)

    assert response.status_code == 302
    [message] = get_messages(response.wsgi_request)
    assert message.level == messages.WARNING
    assert "shared with organizations you do not manage" in message.message
    assert Application.authenticate(token) == shared


def test_shared_application_page_says_how_many_other_organizations_it_serves(
    client: Client, world: World, shared_app: Application
) -> None:
    logged_in(client, world.alice)

    response = client.get(admin_url("application", "change", shared_app.pk))

    assert "Acme and 1 other organization" in response.content.decode()


def test_org_admin_cannot_rotate_another_organizations_credential(
    client: Client, world: World
) -> None:
    before = world.b.application.credential_id
    logged_in(client, world.alice)

    rotate(client, world.b.application)

    world.b.application.refresh_from_db()
    assert world.b.application.credential_id == before


# --- Sessions and events are read-only ----------------------------------------------------


@pytest.mark.parametrize("model", ["trackedsession", "logoutevent"])
@pytest.mark.parametrize("user", ["alice", "root"])
def test_read_only_records_have_no_add_page(
    client: Client, world: World, model: str, user: str
) -> None:
    logged_in(client, getattr(world, user))

    response = client.get(admin_url(model, "add"))

    assert response.status_code == 403


@pytest.mark.parametrize("model", ["trackedsession", "logoutevent"])
def test_read_only_record_page_has_no_save_button(client: Client, world: World, model: str) -> None:
    logged_in(client, world.root)

    response = client.get(admin_url(model, "change", world.a.object(model).pk))

    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    assert response.context["adminform"].form.fields == {}


def test_posting_to_a_tracked_session_changes_nothing(client: Client, world: World) -> None:
    session = world.a.session
    logged_in(client, world.root)

    response = client.post(
        admin_url("trackedsession", "change", session.pk),
        {"sub": "auth0|mallory", "email": "mallory@evil.example", "_save": "Save"},
    )

    assert response.status_code == 403
    session.refresh_from_db()
    assert (session.sub, session.email) == ("auth0|carol", "carol@acme.example")


def test_posting_to_a_logout_event_changes_nothing(client: Client, world: World) -> None:
    event = world.a.event
    logged_in(client, world.root)

    response = client.post(
        admin_url("logoutevent", "change", event.pk),
        {
            "outcome": "completed",
            "deliveries-TOTAL_FORMS": "0",
            "deliveries-INITIAL_FORMS": "1",
            "_save": "Save",
        },
    )

    assert response.status_code == 403
    event.refresh_from_db()
    assert event.outcome == "pending"
    assert Delivery.objects.filter(event=event).count() == 1


def test_event_page_shows_its_deliveries(client: Client, world: World) -> None:
    logged_in(client, world.alice)

    response = client.get(admin_url("logoutevent", "change", world.a.event.pk))

    html = response.content.decode()
    delivery = row_of(html, 'id="deliveries-0"')
    assert delivery["application"] == "acme-crm"
    assert delivery["state"] == "Delivered"
    assert delivery["attempts"] == "3"
    assert delivery["last_status"] == "200"
    assert delivery["latency_ms"] == "42"
