"""Client mode's mirror of the hub's organizations and policies (``logout_sso.api``'s
``sync_policies_from_hub``), against a scripted hub on loopback: what is created, updated,
adopted and removed, identifiers that move, conflicts, and every way a hostile or broken hub's
answer is refused with nothing applied."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from logout_sso import api, tasks
from logout_sso.internal.policies import get_policy
from logout_sso.models import EmailDomain, LogoutPolicy, Organization, PolicyMirror
from logout_sso.rp.internal.mirror_state import mirror_state
from tests.loopback import Reply, json_reply
from tests.scripted_hub import ScriptedHub, hub_organization
from tests.signing_in import is_signed_in, sign_in_through_idp

pytestmark = pytest.mark.django_db


def sync(**options: Any) -> api.SyncReport:
    return api.sync_policies_from_hub(**options)


def snapshot() -> list[tuple[Any, ...]]:
    """Every organization with its policy and email domains, as stored."""
    return [
        (
            organization.pk,
            organization.hub_id,
            organization.name,
            organization.slug,
            organization.idp_organization_id,
            organization.connection,
            organization.auto_forward,
            organization.hub_admin_url,
            organization.logout_policy.slo_mode,
            organization.logout_policy.session_ttl,
            organization.logout_policy.federated_logout,
            organization.logout_policy.post_logout_redirect_uris,
            tuple(organization.email_domains.values_list("domain", flat=True)),
        )
        for organization in Organization.objects.select_related("logout_policy").order_by("pk")
    ]


def at(moment: datetime | None) -> datetime:
    """A moment the record must hold."""
    assert moment is not None
    return moment


def mirrored(hub_id: int) -> Organization:
    return Organization.objects.select_related("logout_policy").get(hub_id=hub_id)


# --- Following the hub --------------------------------------------------------------------------


def test_the_first_sync_creates_the_hubs_organizations_with_their_policies(scripted_hub):
    scripted_hub.organizations = [
        hub_organization(
            7,
            "acme",
            policy={
                "session_ttl": 120,
                "post_logout_redirect_uris": ["https://a.example/", "https://b.example/bye"],
            },
        ),
        hub_organization(9, "globex", policy={"slo_mode": "logout_service", "session_ttl": 3600}),
    ]

    report = sync()

    assert report == api.SyncReport(created=2)
    acme = mirrored(7)
    assert (acme.name, acme.slug, acme.idp_organization_id) == ("Acme", "acme", "org_acme")
    assert acme.hub_admin_url == "https://hub.example.com/admin/logout_sso/organization/7/change/"
    assert acme.is_mirrored
    assert acme.logout_policy.session_ttl == 120
    assert acme.logout_policy.post_logout_redirect_uri_list == [
        "https://a.example/",
        "https://b.example/bye",
    ]
    assert list(acme.email_domains.values_list("domain", flat=True)) == ["acme.example"]
    assert mirrored(9).logout_policy.slo_mode == "logout_service"
    record = PolicyMirror.objects.get()
    assert (record.hub_url, record.etag, record.last_error) == (
        scripted_hub.api_url,
        scripted_hub.etag,
        "",
    )
    assert at(record.synced_at) >= at(record.attempted_at)


def test_the_next_sync_asks_with_the_version_held_and_changes_nothing(scripted_hub):
    scripted_hub.organizations = [hub_organization(7, "acme")]
    sync()
    before = snapshot()
    first_confirmed = at(PolicyMirror.objects.get().synced_at)

    report = sync()

    assert report == api.SyncReport(unchanged=1, not_modified=True)
    assert scripted_hub.if_none_match == ["", scripted_hub.etag]
    assert snapshot() == before
    assert at(PolicyMirror.objects.get().synced_at) > first_confirmed


def test_force_asks_without_the_version_and_applies_the_whole_answer(scripted_hub):
    scripted_hub.organizations = [hub_organization(7, "acme")]
    sync()
    LogoutPolicy.objects.filter(organization__hub_id=7).update(session_ttl=900)  # by a script

    assert sync().not_modified is True
    assert mirrored(7).logout_policy.session_ttl == 900
    assert sync(force=True) == api.SyncReport(updated=1)
    assert scripted_hub.if_none_match[-1] == ""
    assert mirrored(7).logout_policy.session_ttl == 300


def test_a_policy_edited_at_the_hub_applies_here_and_only_it_is_written(
    scripted_hub, django_assert_num_queries
):
    scripted_hub.organizations = [hub_organization(7, "acme")]
    sync()
    acme = mirrored(7)
    assert get_policy(acme.pk).session_ttl == 300
    scripted_hub.organizations = [hub_organization(7, "acme", policy={"session_ttl": 60})]

    report = sync()

    assert report == api.SyncReport(updated=1)
    refreshed = mirrored(7)
    assert refreshed.updated_at == acme.updated_at  # the organization itself was not saved
    assert refreshed.logout_policy.updated_at > acme.logout_policy.updated_at
    assert get_policy(acme.pk).session_ttl == 60  # the cached policy was dropped
    with django_assert_num_queries(0):
        assert get_policy(acme.pk).session_ttl == 60  # and the request path reads the cache


def test_a_local_organization_with_the_hubs_slug_is_adopted_with_what_stays_local(
    scripted_hub, make_organization, make_org_admin
):
    local = make_organization("acme", name="Acme Corp")
    admin = make_org_admin("acme-admin", local)
    LogoutPolicy.objects.filter(pk=local.pk).update(delivery_max_attempts=3)
    scripted_hub.organizations = [hub_organization(7, "acme")]

    report = sync()

    assert report == api.SyncReport(updated=1)
    adopted = mirrored(7)
    assert adopted.pk == local.pk
    assert adopted.name == "Acme"
    assert list(adopted.admins.all()) == [admin]  # admins are this project's
    assert adopted.logout_policy.delivery_max_attempts == 3  # so are delivery retries
    assert get_policy(local.pk).mirrored is True


def test_organizations_the_hub_does_not_manage_are_left_alone(scripted_hub, make_organization):
    make_organization("initech", idp_organization_id="org_initech")
    scripted_hub.organizations = [hub_organization(7, "acme")]
    sync()
    scripted_hub.organizations = []

    report = sync()

    assert report == api.SyncReport(removed=1)
    assert list(Organization.objects.values_list("slug", "hub_id")) == [("initech", None)]


def test_two_organizations_swapping_their_slugs_names_and_ids(scripted_hub):
    scripted_hub.organizations = [hub_organization(7, "acme"), hub_organization(9, "globex")]
    sync()
    pks = {hub_id: mirrored(hub_id).pk for hub_id in (7, 9)}
    scripted_hub.organizations = [
        hub_organization(7, "globex", name="Globex", email_domains=["globex.example"]),
        hub_organization(9, "acme", name="Acme", email_domains=["acme.example"]),
    ]

    report = sync()

    assert report == api.SyncReport(updated=2)
    for hub_id, slug in ((7, "globex"), (9, "acme")):
        organization = mirrored(hub_id)
        assert organization.pk == pks[hub_id]
        assert (organization.slug, organization.idp_organization_id) == (slug, f"org_{slug}")
        assert [domain.domain for domain in organization.email_domains.all()] == [f"{slug}.example"]


def test_an_organization_recreated_at_the_hub_under_its_old_slug(scripted_hub):
    scripted_hub.organizations = [hub_organization(7, "acme")]
    sync()
    scripted_hub.organizations = [hub_organization(8, "acme")]

    report = sync()

    assert report == api.SyncReport(created=1, removed=1)
    assert list(Organization.objects.values_list("hub_id", flat=True)) == [8]


def test_an_organization_the_hub_no_longer_lists_is_removed_and_its_users_signed_out(
    scripted_hub, client
):
    scripted_hub.organizations = [hub_organization(7, "acme"), hub_organization(9, "globex")]
    sync()
    session_key = sign_in_through_idp(client, mirrored(7))
    assert is_signed_in(client)
    scripted_hub.organizations = [hub_organization(9, "globex")]

    report = sync()

    assert report == api.SyncReport(removed=1, unchanged=1)
    assert not Organization.objects.filter(hub_id=7).exists()
    assert not SessionStore().exists(session_key)
    assert not is_signed_in(client)


# --- Conflicts: nothing applied ------------------------------------------------------------------


def assert_refused(scripted_hub: ScriptedHub, report: api.SyncReport, mentions: str) -> None:
    assert report.error, report
    assert mentions in report.error
    record = PolicyMirror.objects.get()
    assert record.last_error == report.error
    assert record.etag != scripted_hub.etag


@pytest.mark.parametrize(
    ("local", "mentions"),
    [
        ({"slug": "acme-local", "name": "Acme"}, "'acme-local'"),
        ({"slug": "initech", "idp_organization_id": "org_acme"}, "'initech'"),
        ({"slug": "org_acme"}, "'org_acme'"),
    ],
    ids=["name", "idp-organization-id", "slug-is-the-hubs-idp-id"],
)
def test_a_local_organization_holding_what_the_hub_uses_is_a_conflict(
    scripted_hub, make_organization, local, mentions
):
    make_organization(**local)
    before = snapshot()
    scripted_hub.organizations = [hub_organization(9, "globex"), hub_organization(7, "acme")]

    report = sync()

    assert_refused(scripted_hub, report, mentions)
    assert "not mirrored" in report.error
    assert snapshot() == before


def test_an_email_domain_of_a_local_organization_is_a_conflict(scripted_hub, make_organization):
    initech = make_organization("initech")
    EmailDomain.objects.create(organization=initech, domain="acme.example")
    before = snapshot()
    scripted_hub.organizations = [hub_organization(7, "acme")]

    report = sync()

    assert_refused(scripted_hub, report, "'acme.example'")
    assert snapshot() == before


def test_a_mirrored_organization_renamed_to_a_local_ones_slug_is_a_conflict(
    scripted_hub, make_organization
):
    scripted_hub.organizations = [hub_organization(7, "acme")]
    sync()
    make_organization("initech")
    before = snapshot()
    scripted_hub.organizations = [hub_organization(7, "initech")]

    report = sync()

    assert_refused(scripted_hub, report, "'initech'")
    assert snapshot() == before


def test_a_conflict_ends_no_session(scripted_hub, make_organization, client):
    """The organization the hub dropped is removed only once the rest is known to apply."""
    scripted_hub.organizations = [hub_organization(7, "acme")]
    sync()
    sign_in_through_idp(client, mirrored(7))
    make_organization("initech-local", name="Initech")
    scripted_hub.organizations = [hub_organization(9, "initech")]

    assert "'initech-local'" in sync().error
    assert is_signed_in(client)
    assert Organization.objects.filter(hub_id=7).exists()


# --- A hostile or broken hub: nothing applied ----------------------------------------------------


def acme_with(**fields: Any) -> dict[str, Any]:
    """Organization 7, acme, with these members (``policy``: these policy members, unless it
    is not a dict)."""
    organization = hub_organization(7, "acme")
    policy = fields.pop("policy", {})
    if isinstance(policy, dict):
        organization["policy"] |= policy
    else:
        organization["policy"] = policy
    return organization | fields


def without(member: str) -> dict[str, Any]:
    organization = hub_organization(7, "acme")
    del organization[member]
    return organization


HOSTILE = {
    "id-missing": ([without("id")], "has no 'id'"),
    "id-a-string": ([acme_with(id="7")], "'id' must be a JSON integer"),
    "id-a-boolean": ([acme_with(id=True)], "'id' must be a JSON integer"),
    "id-zero": ([acme_with(id=0)], "'id' must be from 1"),
    "id-too-large": ([acme_with(id=2**63)], "'id' must be from 1"),
    "name-missing": ([without("name")], "has no 'name'"),
    "name-empty": ([acme_with(name="")], "name: This field cannot be blank."),
    "name-too-long": ([acme_with(name="A" * 201)], "name: Ensure this value has at most 200"),
    "name-a-number": ([acme_with(name=7)], "'name' must be a JSON string"),
    "name-control-characters": ([acme_with(name="Acme\n\x1b[31m")], "printable text"),
    "slug-invalid": ([acme_with(slug="acme corp")], "slug: Enter a valid"),
    "slug-too-long": ([acme_with(slug="a" * 101)], "slug: Ensure this value has at most 100"),
    "idp-id-too-long": ([acme_with(idp_organization_id="o" * 201)], "idp_organization_id"),
    "connection-null": ([acme_with(connection=None)], "'connection' must be a JSON string"),
    "auto-forward-a-string": ([acme_with(auto_forward="yes")], "JSON boolean"),
    "auto-forward-without-connection": (
        [acme_with(auto_forward=True)],
        "auto_forward: Auto-forward needs an enterprise connection",
    ),
    "domains-not-a-list": ([acme_with(email_domains="acme.example")], "JSON array"),
    "domain-invalid": ([acme_with(email_domains=["not a domain"])], "lower-case domain"),
    "domain-upper-case": ([acme_with(email_domains=["ACME.example"])], "lower-case domain"),
    "domain-a-number": ([acme_with(email_domains=[7])], "non-empty printable strings"),
    "admin-url-javascript": ([acme_with(admin_url="javascript:alert(1)")], "hub_admin_url"),
    "policy-missing": ([without("policy")], "has no 'policy'"),
    "policy-not-an-object": ([acme_with(policy=None)], "'policy' must be a JSON object"),
    "slo-mode-unknown": (
        [acme_with(policy={"slo_mode": "sometimes"})],
        "slo_mode: Value 'sometimes' is not a valid choice.",
    ),
    "ttl-too-short": ([acme_with(policy={"session_ttl": 30})], "session_ttl: Ensure"),
    "ttl-too-long": (
        [acme_with(policy={"slo_mode": "none", "session_ttl": 86401})],
        "session_ttl: Ensure",
    ),
    "ttl-too-long-for-short-lived-tokens": (
        [acme_with(policy={"session_ttl": 1000})],
        "at most 15 minutes",
    ),
    "ttl-a-string": ([acme_with(policy={"session_ttl": "60"})], "JSON integer"),
    "ttl-a-float": ([acme_with(policy={"session_ttl": 60.5})], "JSON integer"),
    "federated-a-number": ([acme_with(policy={"federated_logout": 1})], "JSON boolean"),
    "redirects-a-string": (
        [acme_with(policy={"post_logout_redirect_uris": "https://a.example/"})],
        "JSON array",
    ),
    "redirect-insecure": (
        [acme_with(policy={"post_logout_redirect_uris": ["http://evil.example/"]})],
        "must use https",
    ),
    "redirect-two-lines-in-one": (
        [acme_with(policy={"post_logout_redirect_uris": ["https://a.example/\nhttp://x.test/"]})],
        "non-empty printable strings",
    ),
    "same-id-twice": ([hub_organization(7, "acme"), hub_organization(7, "globex")], "id '7'"),
    "same-slug-twice": (
        [hub_organization(7, "acme"), hub_organization(9, "acme", name="Other")],
        "'acme'",
    ),
    "slug-is-anothers-idp-id": (
        [hub_organization(7, "acme"), hub_organization(9, "org_acme", idp_organization_id="")],
        "'org_acme'",
    ),
    "same-name-twice": (
        [hub_organization(7, "acme"), hub_organization(9, "globex", name="Acme")],
        "the name 'Acme'",
    ),
    "same-domain-twice": (
        [
            hub_organization(7, "acme"),
            hub_organization(9, "globex", email_domains=["acme.example"]),
        ],
        "'acme.example'",
    ),
}


@pytest.mark.parametrize(("organizations", "mentions"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_answer_is_refused_with_nothing_applied(
    scripted_hub, make_organization, organizations, mentions
):
    """The valid organization listed first is not created either."""
    make_organization("initech")
    before = snapshot()
    scripted_hub.organizations = [hub_organization(3, "umbrella"), *organizations]

    report = sync()

    assert_refused(scripted_hub, report, mentions)
    assert report.error.startswith("the hub's answer cannot be applied: ")
    assert snapshot() == before


@pytest.mark.parametrize(
    ("reply", "mentions"),
    [
        (Reply(200, (("Content-Type", "text/html"),), b"<html>hi</html>"), "not a JSON object"),
        (json_reply({"organizations": "all"}), "not a list of objects"),
        (json_reply({"error": "server_error", "error_description": "Boom"}, 500), "500"),
        (json_reply({"error": "forbidden", "error_description": "No."}, 403), "403 forbidden"),
        (Reply(302, (("Location", "https://elsewhere.example/"),)), "302"),
    ],
    ids=["html", "not-a-list", "500", "403", "redirect"],
)
def test_a_broken_answer_is_an_error_with_nothing_applied(scripted_hub, reply, mentions):
    scripted_hub.organizations = [hub_organization(7, "acme")]
    scripted_hub.error = reply

    report = sync()

    assert mentions in report.error
    assert not Organization.objects.exists()


def test_the_hubs_words_are_escaped_before_they_are_stored_or_logged(scripted_hub, caplog):
    scripted_hub.error = json_reply(
        {"error": "forbidden", "error_description": "No\n2026-12-01 CRITICAL forged \x1b[31m"}, 403
    )

    with caplog.at_level(logging.WARNING):
        report = sync()

    assert "\n" not in report.error
    assert "\x1b" not in report.error
    assert "No\\n2026-12-01 CRITICAL forged \\x1b[31m" in PolicyMirror.objects.get().last_error
    assert "\n" not in caplog.records[0].getMessage()


# --- An unreachable hub: the last known policy stays, one warning per streak ----------------------


def test_an_unreachable_hub_leaves_the_last_known_policy_and_warns_once(scripted_hub, caplog):
    scripted_hub.organizations = [hub_organization(7, "acme", policy={"session_ttl": 120})]
    sync()
    acme = mirrored(7)
    confirmed = at(PolicyMirror.objects.get().synced_at)
    scripted_hub.close()

    with caplog.at_level(logging.DEBUG, logger="logout_sso"):
        reports = [sync(), sync(), sync()]

    assert all(report.error.startswith("unreachable: ") for report in reports)
    assert get_policy(acme.pk).session_ttl == 120
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "stay in force" in warnings[0].getMessage()
    assert warnings[0].exc_info is None  # no traceback
    record = PolicyMirror.objects.get()
    assert record.synced_at == confirmed
    assert at(record.attempted_at) > confirmed
    assert record.last_error == reports[-1].error


def test_the_first_success_after_failures_says_back_in_sync(settings, caplog):
    hub = ScriptedHub()
    settings.LOGOUT_SSO = hub.settings()
    hub.error = json_reply({"error": "server_error", "error_description": "Down"}, 503)
    try:
        with caplog.at_level(logging.INFO, logger="logout_sso"):
            sync()
            sync()
            hub.error = None
            sync()
            sync()
    finally:
        hub.close()

    messages = [(record.levelname, record.getMessage()) for record in caplog.records]
    assert [level for level, _message in messages] == ["WARNING", "INFO"]
    assert messages[1][1].startswith("Back in sync with the hub")
    assert PolicyMirror.objects.get().last_error == ""


# --- How fresh the copy is -----------------------------------------------------------------------


def test_the_copy_is_stale_until_synced_and_after_five_intervals(scripted_hub, settings):
    settings.LOGOUT_SSO = scripted_hub.settings(POLICY_SYNC_INTERVAL=10)
    assert mirror_state().stale is True
    assert mirror_state().age is None

    sync()

    assert mirror_state().stale is False
    PolicyMirror.objects.update(synced_at=timezone.now() - timedelta(seconds=49))
    assert mirror_state().stale is False
    PolicyMirror.objects.update(synced_at=timezone.now() - timedelta(seconds=51))
    state = mirror_state()
    assert state.stale is True
    assert state.age is not None
    assert state.age > timedelta(seconds=50)


def test_outside_client_mode_there_is_nothing_to_sync(settings):
    settings.LOGOUT_SSO = {}

    with pytest.raises(ImproperlyConfigured, match="HUB_URL"):
        sync()


def test_the_task_returns_the_report_and_does_nothing_outside_client_mode(scripted_hub, settings):
    scripted_hub.organizations = [hub_organization(7, "acme")]

    assert tasks.sync_policies.run() == api.SyncReport(created=1).as_dict()
    settings.LOGOUT_SSO = {}
    assert tasks.sync_policies.run() is None


def queries_of_a_forced_sync(hub: ScriptedHub, organizations: int) -> int:
    hub.organizations = [
        hub_organization(number + 1, f"org-{number}") for number in range(organizations)
    ]
    assert sync().error == ""
    with CaptureQueriesContext(connection) as queries:
        assert sync(force=True).unchanged == organizations
    return len(queries)


def test_an_unchanged_answer_costs_the_same_queries_whatever_the_number_of_organizations(
    scripted_hub, django_assert_num_queries
):
    assert queries_of_a_forced_sync(scripted_hub, 3) == queries_of_a_forced_sync(scripted_hub, 30)
    with django_assert_num_queries(5):  # the record read, then confirmed; 304
        assert sync().not_modified
