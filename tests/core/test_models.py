"""Model validation as an admin form sees it (``full_clean``), the database constraints behind
it, application credentials, the auto-forward trap, the policy cache and tracked sessions."""

import itertools
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from logout_sso.hub.internal.registry import close_expired_sessions
from logout_sso.internal.policies import OrganizationPolicy, get_policy
from logout_sso.models import Application, EmailDomain, LogoutPolicy, Organization, TrackedSession
from logout_sso.signals import tracked_sessions_expired

SHORT_LIVED_TTL_MESSAGE = (
    "With short-lived tokens the session TTL must be at most 15 minutes (900 s): a longer TTL "
    "leaves users signed in long after they logged out elsewhere."
)
INSECURE_URL_MESSAGE = "{} must use https; plain http is only allowed for loopback hosts."


def validation_errors(instance):
    """The errors ``full_clean`` reports, keyed by field (``__all__`` for constraints)."""
    with pytest.raises(ValidationError) as exc_info:
        instance.full_clean()
    return exc_info.value.message_dict


@pytest.fixture
def policy(make_organization):
    return make_organization("acme").logout_policy


# --- LogoutPolicy: created with its organization ------------------------------------------------


def test_policy_is_created_with_defaults_for_a_new_organization(make_organization):
    organization = make_organization("acme")

    policy = LogoutPolicy.objects.get(organization=organization)
    assert policy.federated_logout is False
    assert policy.slo_mode == "short_lived_tokens"
    assert policy.session_ttl == 600
    assert policy.post_logout_redirect_uris == ""
    assert policy.delivery_max_attempts == 12
    assert policy.delivery_backoff_seconds == 2
    assert policy.delivery_backoff_max_seconds == 300


def test_organization_has_exactly_one_policy_even_after_saving_again(make_organization):
    organization = make_organization("acme")
    organization.name = "Acme Corporation"
    organization.save()

    assert LogoutPolicy.objects.filter(organization=organization).count() == 1


def test_default_policy_passes_validation(policy):
    policy.full_clean()


# --- LogoutPolicy.session_ttl -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "message"),
    [
        (59, "Ensure this value is greater than or equal to 60."),
        (0, "Ensure this value is greater than or equal to 60."),
        (86401, "Ensure this value is less than or equal to 86400."),
    ],
)
def test_session_ttl_out_of_range_is_rejected(policy, ttl, message):
    policy.slo_mode = "none"
    policy.session_ttl = ttl

    assert validation_errors(policy) == {"session_ttl": [message]}


@pytest.mark.parametrize(("slo_mode", "ttl"), [("none", 60), ("none", 86400)])
def test_session_ttl_bounds_are_accepted(policy, slo_mode, ttl):
    policy.slo_mode = slo_mode
    policy.session_ttl = ttl

    policy.full_clean()


def test_short_lived_tokens_reject_ttl_over_15_minutes(policy):
    policy.slo_mode = "short_lived_tokens"
    policy.session_ttl = 901

    assert validation_errors(policy) == {NON_FIELD_ERRORS: [SHORT_LIVED_TTL_MESSAGE]}


def test_short_lived_tokens_accept_15_minutes(policy):
    policy.slo_mode = "short_lived_tokens"
    policy.session_ttl = 900

    policy.full_clean()


def test_logout_service_accepts_an_hour(policy):
    policy.slo_mode = "logout_service"
    policy.session_ttl = 3600

    policy.full_clean()


@pytest.mark.parametrize(
    ("slo_mode", "ttl"),
    [("none", 59), ("none", 86401), ("short_lived_tokens", 901)],
)
def test_database_rejects_bad_ttl_saved_without_validation(policy, slo_mode, ttl):
    policy.slo_mode = slo_mode
    policy.session_ttl = ttl

    with pytest.raises(IntegrityError), transaction.atomic():
        policy.save()


# --- LogoutPolicy.post_logout_redirect_uris -----------------------------------------------------


@pytest.mark.parametrize(
    "uris",
    [
        "https://app.example.com/logged-out",
        "http://localhost:8000/bye",
        "https://app.example.com/logged-out\nhttp://localhost:8000/bye\n",
    ],
)
def test_redirect_uris_accepted(policy, uris):
    policy.post_logout_redirect_uris = uris

    policy.full_clean()


def test_redirect_uri_over_plain_http_is_rejected(policy):
    policy.post_logout_redirect_uris = "http://example.com/bye"

    assert validation_errors(policy) == {
        "post_logout_redirect_uris": [INSECURE_URL_MESSAGE.format("http://example.com/bye")]
    }


def test_every_bad_redirect_uri_is_reported(policy):
    policy.post_logout_redirect_uris = (
        "https://ok.example.com/\nhttp://example.com/bye\n/relative\nhttps://x.example.com/#f\n"
    )

    assert validation_errors(policy) == {
        "post_logout_redirect_uris": [
            INSECURE_URL_MESSAGE.format("http://example.com/bye"),
            "/relative is not an absolute http(s) URL, such as https://app.example.com/path.",
            "https://x.example.com/#f must not contain a fragment (#...).",
        ]
    }


def test_redirect_uri_list_skips_blank_lines(policy):
    policy.post_logout_redirect_uris = "\n https://a.example.com/ \n\nhttp://localhost/\n"

    assert policy.post_logout_redirect_uri_list == ["https://a.example.com/", "http://localhost/"]


# --- LogoutPolicy delivery backoff --------------------------------------------------------------


def test_longest_retry_delay_shorter_than_first_is_rejected(policy):
    policy.delivery_backoff_seconds = 60
    policy.delivery_backoff_max_seconds = 30

    assert validation_errors(policy) == {
        NON_FIELD_ERRORS: ["The longest retry delay cannot be shorter than the first retry delay."]
    }


def test_equal_retry_delays_are_accepted(policy):
    policy.delivery_backoff_seconds = 60
    policy.delivery_backoff_max_seconds = 60

    policy.full_clean()


# --- Organization -------------------------------------------------------------------------------


def test_auto_forward_without_connection_is_rejected(db):
    organization = Organization(name="Acme", slug="acme", auto_forward=True)

    assert validation_errors(organization) == {
        "auto_forward": ["Auto-forward needs an enterprise connection to forward to."]
    }


def test_auto_forward_with_connection_is_accepted(db):
    Organization(name="Acme", slug="acme", auto_forward=True, connection="acme-okta").full_clean()


def test_idp_organization_id_is_unique(make_organization):
    make_organization("acme", idp_organization_id="org_123")
    other = Organization(name="Globex", slug="globex", idp_organization_id="org_123")

    assert validation_errors(other) == {
        "idp_organization_id": [
            "org_123 is already the slug or IdP organization id of another organization: "
            "each value names one organization."
        ]
    }


def test_database_rejects_duplicate_idp_organization_id(make_organization):
    make_organization("acme", idp_organization_id="org_123")

    with pytest.raises(IntegrityError), transaction.atomic():
        make_organization("globex", idp_organization_id="org_123")


def test_organizations_without_idp_organization_id_coexist(make_organization):
    make_organization("acme")
    make_organization("globex")

    Organization(name="Initech", slug="initech", idp_organization_id="").full_clean()


# --- EmailDomain --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "domain", ["@acme.com", "acme", "Acme.com", "https://acme.com", "acme.com.", "-acme.com"]
)
def test_invalid_email_domain_is_rejected(make_organization, domain):
    email_domain = EmailDomain(organization=make_organization("acme"), domain=domain)

    assert validation_errors(email_domain) == {
        "domain": ["Enter a lower-case domain name such as example.com, without @ or scheme."]
    }


@pytest.mark.parametrize("domain", ["acme.com", "mail.acme.co.uk", "xn--bcher-kva.example"])
def test_valid_email_domain_is_accepted(make_organization, domain):
    EmailDomain(organization=make_organization("acme"), domain=domain).full_clean()


def test_email_domain_belongs_to_one_organization_only(make_organization):
    EmailDomain.objects.create(organization=make_organization("acme"), domain="acme.com")
    claimed = EmailDomain(organization=make_organization("globex"), domain="acme.com")

    assert validation_errors(claimed) == {
        "domain": ["Email domain with this Domain already exists."]
    }


# --- Application.backchannel_logout_uri ---------------------------------------------------------


def new_application(backchannel_logout_uri):
    return Application(
        name="crm", client_id="crm-client", backchannel_logout_uri=backchannel_logout_uri
    )


@pytest.mark.parametrize(
    "uri", ["", "https://crm.example.com/bcl", "http://127.0.0.1:8001/bcl", "http://localhost/bcl"]
)
def test_backchannel_logout_uri_accepted(db, uri):
    new_application(uri).full_clean()


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("http://app.example.com/bcl", INSECURE_URL_MESSAGE.format("http://app.example.com/bcl")),
        (
            "https://user:pw@app.example.com/bcl",
            "https://user:pw@app.example.com/bcl must not contain a user name or password.",
        ),
        (
            "https://app.example.com/bcl#frag",
            "https://app.example.com/bcl#frag must not contain a fragment (#...).",
        ),
    ],
)
def test_backchannel_logout_uri_rejected(db, uri, message):
    errors = validation_errors(new_application(uri))

    assert list(errors) == ["backchannel_logout_uri"]
    assert message in errors["backchannel_logout_uri"]


# --- Application credentials --------------------------------------------------------------------


@pytest.fixture
def application_and_token(db):
    return Application.objects.create_with_credential(name="crm", client_id="crm-client")


def test_create_with_credential_returns_a_token(application_and_token):
    application, token = application_and_token

    assert application.pk is not None
    assert token.startswith(f"lsso_{application.credential_id}_")
    assert application.credential_rotated_at is not None


def test_database_stores_neither_token_nor_secret(application_and_token):
    application, token = application_and_token
    secret = token.split("_", 2)[2]

    row = Application.objects.filter(pk=application.pk).values().get()
    for field, value in row.items():
        assert token not in str(value), field
        assert secret not in str(value), field


def test_authenticate_returns_the_application(application_and_token):
    application, token = application_and_token

    assert Application.authenticate(token) == application


def test_authenticate_rejects_a_wrong_secret(application_and_token):
    _application, token = application_and_token
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")

    assert Application.authenticate(wrong) is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token.replace("lsso_", "xsso_", 1),
        lambda token: token.replace("lsso_", "", 1),
        lambda token: "_".join(token.split("_", 2)[:2]) + "_",
        lambda token: "lsso_000000000000000000_" + token.split("_", 2)[2],
        lambda token: "garbage",
        lambda token: "lsso__",
        lambda token: "",
    ],
    ids=[
        "wrong-prefix",
        "no-prefix",
        "empty-secret",
        "unknown-id",
        "garbage",
        "empty-parts",
        "empty",
    ],
)
def test_authenticate_rejects_malformed_tokens(application_and_token, mangle):
    _application, token = application_and_token

    assert Application.authenticate(mangle(token)) is None


def test_disabled_application_cannot_authenticate(application_and_token):
    application, token = application_and_token
    application.enabled = False
    application.save()

    assert Application.authenticate(token) is None


def test_rotating_the_credential_retires_the_old_token(application_and_token):
    application, old_token = application_and_token

    new_token = application.rotate_credential()

    assert new_token != old_token
    assert Application.authenticate(old_token) is None
    assert Application.authenticate(new_token) == application


# --- The auto-forward trap ----------------------------------------------------------------------

TRAP_TABLE = [
    (
        auto_forward,
        slo_mode,
        federated,
        auto_forward and slo_mode == "short_lived_tokens" and not federated,
    )
    for auto_forward, slo_mode, federated in itertools.product(
        [False, True], ["none", "short_lived_tokens", "logout_service"], [False, True]
    )
]


@pytest.mark.parametrize(("auto_forward", "slo_mode", "federated", "trapped"), TRAP_TABLE)
def test_trap_property_and_queryset_agree(
    make_organization, auto_forward, slo_mode, federated, trapped
):
    organization = make_organization("acme", auto_forward=auto_forward, connection="acme-okta")
    policy = organization.logout_policy
    policy.slo_mode = slo_mode
    policy.federated_logout = federated
    policy.save()

    assert policy.defeats_single_logout is trapped
    assert list(LogoutPolicy.objects.defeating_single_logout()) == ([policy] if trapped else [])


def test_trap_table_covers_every_combination_once():
    assert len(TRAP_TABLE) == 12
    assert sum(trapped for *_, trapped in TRAP_TABLE) == 1


def test_trap_queryset_lists_only_trapped_organizations(make_organization):
    trapped = []
    for index, (auto_forward, slo_mode, federated, is_trapped) in enumerate(TRAP_TABLE):
        organization = make_organization(
            f"org-{index}", auto_forward=auto_forward, connection="okta"
        )
        LogoutPolicy.objects.filter(organization=organization).update(
            slo_mode=slo_mode, federated_logout=federated
        )
        if is_trapped:
            trapped.append(organization.pk)

    found = LogoutPolicy.objects.defeating_single_logout().values_list("pk", flat=True)
    assert list(found) == trapped
    assert [p.pk for p in LogoutPolicy.objects.all() if p.defeats_single_logout] == trapped


# --- Policy cache -------------------------------------------------------------------------------


def test_get_policy_returns_the_organization_policy(make_organization):
    organization = make_organization(
        "acme", idp_organization_id="org_123", connection="acme-okta", auto_forward=True
    )
    LogoutPolicy.objects.filter(pk=organization.pk).update(
        post_logout_redirect_uris="https://acme.example.com/bye\n"
    )

    assert get_policy(organization.pk) == OrganizationPolicy(
        organization_id=organization.pk,
        slug="acme",
        idp_organization_id="org_123",
        connection="acme-okta",
        auto_forward=True,
        federated_logout=False,
        slo_mode="short_lived_tokens",
        session_ttl=600,
        post_logout_redirect_uris=("https://acme.example.com/bye",),
    )


def test_get_policy_reads_the_database_once(make_organization, django_assert_num_queries):
    organization = make_organization("acme")
    with django_assert_num_queries(1):
        first = get_policy(organization.pk)

    with django_assert_num_queries(0):
        second = get_policy(organization.pk)

    assert second == first


def test_get_policy_of_unknown_organization_raises(db):
    with pytest.raises(LogoutPolicy.DoesNotExist):
        get_policy(987654)


def test_saving_the_policy_refreshes_the_cache(make_organization):
    organization = make_organization("acme")
    get_policy(organization.pk)

    policy = organization.logout_policy
    policy.session_ttl = 300
    policy.federated_logout = True
    policy.save()

    refreshed = get_policy(organization.pk)
    assert (refreshed.session_ttl, refreshed.federated_logout) == (300, True)


def test_saving_the_organization_refreshes_the_cache(make_organization):
    organization = make_organization("acme")
    get_policy(organization.pk)

    organization.connection = "acme-okta"
    organization.auto_forward = True
    organization.save()

    refreshed = get_policy(organization.pk)
    assert (refreshed.connection, refreshed.auto_forward) == ("acme-okta", True)


def test_stale_policy_cached_before_commit_is_dropped_after_commit(
    make_organization, django_capture_on_commit_callbacks
):
    organization = make_organization("acme")
    stale = get_policy(organization.pk)

    with django_capture_on_commit_callbacks(execute=True):
        policy = organization.logout_policy
        policy.session_ttl = 300
        policy.save()
        # A concurrent request read the old row before the commit and cached it.
        caches["default"].set(f"logout_sso:policy:v1:{organization.pk}", stale)

    assert get_policy(organization.pk).session_ttl == 300


# --- TrackedSession -----------------------------------------------------------------------------


@pytest.fixture
def crm(make_organization, make_application):
    organization = make_organization("acme")
    return make_application("crm", organization), organization


def make_session(application, organization, session_id, **fields):
    fields.setdefault("issuer", "https://idp.example.com/")
    fields.setdefault("sub", "user-1")
    return TrackedSession.objects.create(
        application=application, organization=organization, session_id=session_id, **fields
    )


def test_session_id_is_unique_per_application(crm):
    application, organization = crm
    make_session(application, organization, "s1")
    duplicate = TrackedSession(
        application=application,
        organization=organization,
        issuer="https://idp.example.com/",
        sub="user-2",
        session_id="s1",
    )

    assert validation_errors(duplicate) == {
        NON_FIELD_ERRORS: ["This application already registered this session."]
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def test_same_session_id_in_another_application_is_fine(crm, make_application):
    application, organization = crm
    make_session(application, organization, "s1")
    other = TrackedSession(
        application=make_application("billing", organization),
        organization=organization,
        issuer="https://idp.example.com/",
        sub="user-1",
        session_id="s1",
    )

    other.full_clean()


def test_close_expired_sessions_ends_only_expired_live_sessions(crm, captured_signals):
    [expired_signals] = captured_signals(tracked_sessions_expired)
    application, organization = crm
    now = timezone.now()
    expired = [
        make_session(application, organization, "expired-1", expires_at=now - timedelta(hours=1)),
        make_session(application, organization, "expired-2", expires_at=now - timedelta(seconds=1)),
    ]
    future = make_session(application, organization, "future", expires_at=now + timedelta(hours=1))
    no_expiry = make_session(application, organization, "no-expiry")
    already_ended = make_session(
        application,
        organization,
        "logged-out",
        expires_at=now - timedelta(hours=2),
        ended_at=now - timedelta(hours=3),
        end_reason="logout",
    )

    assert close_expired_sessions() == 2

    for session in expired:
        session.refresh_from_db()
        assert session.ended_at is not None
        assert session.end_reason == "expired"
    for session in (future, no_expiry):
        session.refresh_from_db()
        assert (session.ended_at, session.end_reason) == (None, "")
    ended_before = already_ended.ended_at
    already_ended.refresh_from_db()
    assert (already_ended.ended_at, already_ended.end_reason) == (ended_before, "logout")
    assert expired_signals == [{"sender": TrackedSession, "count": 2}]
    assert set(TrackedSession.objects.live()) == {future, no_expiry}


def test_close_expired_sessions_twice_ends_nothing_more(crm, captured_signals):
    [expired_signals] = captured_signals(tracked_sessions_expired)
    application, organization = crm
    make_session(application, organization, "s1", expires_at=timezone.now() - timedelta(1))
    assert close_expired_sessions() == 1

    assert close_expired_sessions() == 0
    assert expired_signals == [{"sender": TrackedSession, "count": 1}]


def test_close_expired_sessions_without_any_sends_no_signal(crm, captured_signals):
    [expired_signals] = captured_signals(tracked_sessions_expired)
    application, organization = crm
    make_session(application, organization, "s1", expires_at=timezone.now() + timedelta(1))

    assert close_expired_sessions() == 0
    assert expired_signals == []
