"""System checks: what ``manage.py check`` tells a project about its logout_sso setup."""

import sys
from io import StringIO

import pytest
from django.core.checks import ERROR, WARNING
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connections
from django.test import modify_settings
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from logout_sso.checks import (
    Codes,
    Messages,
    check_extras,
    check_oidc_settings,
    check_policies,
    check_settings,
    check_sqlite_transactions,
)

OIDC_BACKEND = "mozilla_django_oidc.auth.OIDCAuthenticationBackend"
LOCMEM = "django.core.cache.backends.locmem.LocMemCache"
OIDC_SETTINGS = {
    "OIDC_RP_CLIENT_ID": "crm-client",
    "OIDC_RP_CLIENT_SECRET": "not-a-secret",
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "https://idp.example.com/authorize",
    "OIDC_OP_TOKEN_ENDPOINT": "https://idp.example.com/oauth/token",
    "OIDC_OP_USER_ENDPOINT": "https://idp.example.com/userinfo",
}


class TenantOIDCBackend(OIDCAuthenticationBackend):  # type: ignore[misc]
    """A project's own subclass of the OIDC backend, as most projects write one."""


def ids(messages):
    return [message.id for message in messages]


def run_settings_check():
    return check_settings(app_configs=None, databases=None)


def run_oidc_check():
    return check_oidc_settings(app_configs=None, databases=None)


def run_policies_check():
    return check_policies(app_configs=None, databases=["default"])


@pytest.fixture(autouse=True)
def no_celery_broker(settings):
    settings.CELERY_BROKER_URL = ""


@pytest.fixture
def shared_cache(settings):
    """A cache shared by every process, so that only the setting under test is reported."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/0",
        }
    }


@pytest.fixture
def oidc_backend(settings):
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        OIDC_BACKEND,
    ]
    for name in OIDC_SETTINGS:
        if hasattr(settings, name):
            delattr(settings, name)


@pytest.fixture
def oidc_configured(settings, oidc_backend):
    for name, value in OIDC_SETTINGS.items():
        setattr(settings, name, value)


# --- check_settings: LOGOUT_SSO, sessions, cache ------------------------------------------------


def test_good_settings_report_nothing(shared_cache):
    assert run_settings_check() == []


def test_unknown_logout_sso_key_is_e001(shared_cache, settings):
    settings.LOGOUT_SSO = {"CACHE_ALAIS": "default"}

    messages = run_settings_check()

    assert ids(messages) == [Codes.INVALID_SETTINGS]
    assert messages[0].level == ERROR
    assert messages[0].msg.startswith("LOGOUT_SSO has unknown key(s) 'CACHE_ALAIS'; known keys: ")


def test_invalid_trusted_issuer_is_e001(shared_cache, settings):
    settings.LOGOUT_SSO = {
        "TRUSTED_ISSUERS": [{"issuer": "https://idp.example.com/", "audience": "crm", "x": 1}]
    }

    messages = run_settings_check()

    assert ids(messages) == [Codes.INVALID_SETTINGS]
    assert "unknown key(s) 'x'" in messages[0].msg


def test_e001_is_reported_alone(settings):
    settings.LOGOUT_SSO = {"CACHE_ALAIS": "default"}
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

    assert ids(run_settings_check()) == [Codes.INVALID_SETTINGS]


def test_signed_cookie_sessions_are_e002(shared_cache, settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

    messages = run_settings_check()

    assert ids(messages) == [Codes.SIGNED_COOKIES]
    assert messages[0].level == ERROR
    assert "signed-cookies engine" in messages[0].msg
    assert "cannot be ended from the server" in messages[0].msg


@pytest.mark.parametrize(
    "engine",
    [
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.cache",
        "django.contrib.sessions.backends.cached_db",
    ],
)
def test_server_side_sessions_are_fine(shared_cache, settings, engine):
    settings.SESSION_ENGINE = engine

    assert run_settings_check() == []


def test_cache_alias_missing_from_caches_is_e003(shared_cache, settings):
    settings.LOGOUT_SSO = {"CACHE_ALIAS": "logout"}

    messages = run_settings_check()

    assert ids(messages) == [Codes.UNKNOWN_CACHE]
    assert messages[0].msg == "LOGOUT_SSO['CACHE_ALIAS'] is 'logout', which is not a key of CACHES."


@pytest.mark.parametrize("backend", [LOCMEM, "django.core.cache.backends.dummy.DummyCache"])
def test_per_process_cache_with_celery_is_e004(settings, backend):
    settings.CACHES = {"default": {"BACKEND": backend}}
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/1"

    messages = run_settings_check()

    assert ids(messages) == [Codes.CACHE_NOT_SHARED_WITH_WORKERS]
    assert messages[0].level == ERROR
    assert messages[0].msg.startswith(f"The cache 'default' ({backend}) lives inside each process")
    assert "CELERY_BROKER_URL" in messages[0].msg


@pytest.mark.parametrize("backend", [LOCMEM, "django.core.cache.backends.dummy.DummyCache"])
def test_per_process_cache_without_celery_is_w002(settings, backend):
    settings.CACHES = {"default": {"BACKEND": backend}}

    messages = run_settings_check()

    assert ids(messages) == [Codes.CACHE_NOT_SHARED]
    assert messages[0].level == WARNING
    assert "fine for one development server" in messages[0].msg


def test_only_the_configured_cache_alias_matters(settings):
    settings.CACHES = {
        "default": {"BACKEND": LOCMEM},
        "shared": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://r:6379/0"},
    }
    settings.LOGOUT_SSO = {"CACHE_ALIAS": "shared"}
    settings.CELERY_BROKER_URL = "redis://r:6379/1"

    assert run_settings_check() == []


@pytest.mark.parametrize(
    "cache",
    [
        {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:6379/0"},
        {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "cache_table"},
    ],
    ids=["django-redis", "database"],
)
@pytest.mark.parametrize("broker", ["", "redis://127.0.0.1:6379/1"], ids=["no-broker", "broker"])
def test_shared_cache_reports_nothing(settings, cache, broker):
    settings.CACHES = {"default": cache}
    settings.CELERY_BROKER_URL = broker

    assert run_settings_check() == []


def test_sessions_app_not_installed_is_e007(shared_cache):
    with modify_settings(INSTALLED_APPS={"remove": ["django.contrib.sessions"]}):
        messages = run_settings_check()

    assert ids(messages) == [Codes.SESSIONS_NOT_INSTALLED]
    assert messages[0].msg == (
        "logout_sso ends server-side sessions, but django.contrib.sessions is not installed."
    )


def test_every_settings_problem_is_reported_together(settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    with modify_settings(INSTALLED_APPS={"remove": ["django.contrib.sessions"]}):
        messages = run_settings_check()

    assert ids(messages) == [
        Codes.SESSIONS_NOT_INSTALLED,
        Codes.SIGNED_COOKIES,
        Codes.CACHE_NOT_SHARED,
    ]


# --- check_oidc_settings ------------------------------------------------------------------------


def test_no_oidc_backend_reports_nothing(settings):
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]

    assert run_oidc_check() == []


def test_unimportable_backend_is_left_to_django(settings):
    settings.AUTHENTICATION_BACKENDS = ["nowhere.Backend"]

    assert run_oidc_check() == []


def test_oidc_backend_without_settings_is_e005_naming_all(oidc_backend):
    messages = run_oidc_check()

    assert ids(messages) == [Codes.OIDC_SETTINGS_MISSING]
    assert messages[0].level == ERROR
    assert messages[0].msg == (
        "The OpenID Connect backend is enabled but OIDC_RP_CLIENT_ID, OIDC_RP_CLIENT_SECRET, "
        "OIDC_OP_AUTHORIZATION_ENDPOINT, OIDC_OP_TOKEN_ENDPOINT, OIDC_OP_USER_ENDPOINT are "
        "not set."
    )


def test_e005_names_the_one_missing_setting(settings, oidc_configured):
    del settings.OIDC_OP_USER_ENDPOINT

    messages = run_oidc_check()

    assert ids(messages) == [Codes.OIDC_SETTINGS_MISSING]
    assert messages[0].msg == (
        "The OpenID Connect backend is enabled but OIDC_OP_USER_ENDPOINT is not set."
    )


def test_empty_oidc_setting_counts_as_missing(settings, oidc_configured):
    settings.OIDC_RP_CLIENT_SECRET = ""

    messages = run_oidc_check()

    assert ids(messages) == [Codes.OIDC_SETTINGS_MISSING]
    assert "OIDC_RP_CLIENT_SECRET is not set" in messages[0].msg


def test_subclass_of_oidc_backend_is_checked_too(settings):
    settings.AUTHENTICATION_BACKENDS = [f"{__name__}.TenantOIDCBackend"]
    for name in OIDC_SETTINGS:
        if hasattr(settings, name):
            delattr(settings, name)

    assert ids(run_oidc_check()) == [Codes.OIDC_SETTINGS_MISSING]


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "PS512"])
def test_asymmetric_algorithm_without_keys_is_e006(settings, oidc_configured, algorithm):
    settings.OIDC_RP_SIGN_ALGO = algorithm

    messages = run_oidc_check()

    assert ids(messages) == [Codes.OIDC_KEYS_MISSING]
    assert messages[0].msg == (
        f"OIDC_RP_SIGN_ALGO is {algorithm}, but neither OIDC_OP_JWKS_ENDPOINT nor "
        "OIDC_RP_IDP_SIGN_KEY is set, so no ID token can be verified."
    )


@pytest.mark.parametrize(
    "keys",
    [
        {"OIDC_OP_JWKS_ENDPOINT": "https://idp.example.com/.well-known/jwks.json"},
        {"OIDC_RP_IDP_SIGN_KEY": "-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----"},
    ],
    ids=["jwks-endpoint", "sign-key"],
)
def test_asymmetric_algorithm_with_keys_reports_nothing(settings, oidc_configured, keys):
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    for name, value in keys.items():
        setattr(settings, name, value)

    assert run_oidc_check() == []


def test_default_hs256_needs_no_keys(settings, oidc_configured):
    assert not hasattr(settings, "OIDC_RP_SIGN_ALGO")

    assert run_oidc_check() == []


# --- check_policies: the auto-forward trap ------------------------------------------------------


@pytest.fixture
def organizations(make_organization):
    """acme and globex are in the trap; initech auto-forwards but has federated logout."""
    acme = make_organization("acme", auto_forward=True, connection="acme-okta")
    globex = make_organization("globex", auto_forward=True, connection="globex-azure")
    initech = make_organization("initech", auto_forward=True, connection="initech-adfs")
    initech.logout_policy.federated_logout = True
    initech.logout_policy.save()
    make_organization("hooli")
    return acme, globex, initech


def test_no_organizations_report_nothing(db):
    assert run_policies_check() == []


def test_every_trapped_organization_is_w001(organizations):
    acme, globex, _initech = organizations

    messages = run_policies_check()

    assert ids(messages) == [Codes.POLICY_DEFEATS_SLO] * 2
    assert all(message.level == WARNING for message in messages)
    by_organization = {message.obj: message for message in messages}
    assert set(by_organization) == {acme, globex}
    assert by_organization[acme].msg.startswith(
        "Organization 'acme' auto-forwards users to its enterprise connection"
    )
    assert by_organization[globex].msg.startswith("Organization 'globex' ")
    assert "federated logout" in by_organization[acme].hint


def test_leaving_the_trap_clears_w001(organizations):
    acme, globex, _initech = organizations
    acme.logout_policy.slo_mode = "logout_service"
    acme.logout_policy.save()

    assert [message.obj for message in run_policies_check()] == [globex]


def test_manage_py_check_prints_w001_with_the_slug(organizations):
    stdout, stderr = StringIO(), StringIO()

    call_command("check", databases=["default"], stdout=stdout, stderr=stderr)

    output = stdout.getvalue() + stderr.getvalue()
    w001_lines = [line for line in output.splitlines() if "logout_sso.W001" in line]
    assert len(w001_lines) == 2
    assert any("Organization 'acme'" in line for line in w001_lines)
    assert any("Organization 'globex'" in line for line in w001_lines)
    assert "initech" not in output


def test_the_trap_check_queries_no_database_without_database_checks(
    organizations, django_assert_num_queries
):
    """``manage.py check`` runs before every command: it must not cost a query."""
    with django_assert_num_queries(0):
        call_command("check", stdout=StringIO(), stderr=StringIO())
    assert check_policies(app_configs=None, databases=None) == []


def test_manage_py_check_fails_on_e001(db, settings):
    settings.LOGOUT_SSO = {"CACHE_ALAIS": "default"}

    with pytest.raises(SystemCheckError, match=r"logout_sso\.E001"):
        call_command("check", stdout=StringIO(), stderr=StringIO())


# --- check_extras: the optional dependencies the settings need --------------------------------

#: Shaped like a private key: all the settings ask of HUB_SIGNING_KEY before it is used.
PEM = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"


def test_a_hub_without_pycurl_is_told_to_install_the_hub_extra(settings, monkeypatch):
    settings.LOGOUT_SSO = {"HUB_ISSUER": "https://hub.example.com/", "HUB_SIGNING_KEY": PEM}
    monkeypatch.setitem(sys.modules, "pycurl", None)  # What a base install without it does.

    [error] = check_extras(app_configs=None, databases=None)

    assert error.id == Codes.EXTRA_MISSING
    assert error.msg == (
        'LOGOUT_SSO["HUB_SIGNING_KEY"] makes this project a hub, but pycurl cannot be imported.'
    )
    assert error.hint == "pip install 'django-logout-sso[hub]'"


def test_a_project_that_is_no_hub_needs_no_pycurl(settings, monkeypatch):
    settings.LOGOUT_SSO = {}
    monkeypatch.setitem(sys.modules, "pycurl", None)

    assert check_extras(app_configs=None, databases=None) == []


def test_a_django_redis_cache_without_django_redis_is_told_to_install_the_redis_extra(
    settings, monkeypatch
):
    settings.CACHES = {
        "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://x/0"}
    }
    monkeypatch.setitem(sys.modules, "django_redis", None)

    [error] = check_extras(app_configs=None, databases=None)

    assert error.hint == "pip install 'django-logout-sso[redis]'"
    assert "django_redis cannot be imported" in error.msg


# --- check_sqlite_transactions: a hub's SQLite database takes the write lock at BEGIN -----------


@pytest.fixture
def database_options(monkeypatch):
    """``set(vendor, options)``: the default database as that vendor with those ``OPTIONS``."""
    default = connections["default"]

    def set_database(vendor, options):
        monkeypatch.setattr(default, "vendor", vendor)
        monkeypatch.setitem(default.settings_dict, "OPTIONS", options)

    return set_database


def run_sqlite_check():
    return check_sqlite_transactions(app_configs=None, databases=None)


def test_a_hub_on_sqlite_with_deferred_transactions_is_w004(settings, database_options):
    settings.LOGOUT_SSO = {"HUB_ISSUER": "https://hub.example.com/", "HUB_SIGNING_KEY": PEM}
    database_options("sqlite", {"timeout": 20})

    [warning] = run_sqlite_check()

    assert (warning.level, warning.id) == (WARNING, Codes.SQLITE_DEFERRED_TRANSACTIONS)
    assert warning.msg == Messages.SQLITE_DEFERRED_TRANSACTIONS.format(alias="default")
    assert warning.hint == (
        "Set DATABASES['default']['OPTIONS']['transaction_mode'] = 'IMMEDIATE' (with a "
        "'timeout' of some seconds, e.g. 20), or use PostgreSQL."
    )
    assert "whatever the timeout" in warning.msg


@pytest.mark.parametrize("mode", ["IMMEDIATE", "immediate", "EXCLUSIVE"])
def test_a_hub_on_sqlite_that_locks_when_a_transaction_begins_is_fine(
    settings, database_options, mode
):
    settings.LOGOUT_SSO = {"HUB_ISSUER": "https://hub.example.com/", "HUB_SIGNING_KEY": PEM}
    database_options("sqlite", {"transaction_mode": mode})

    assert run_sqlite_check() == []


@pytest.mark.parametrize("mode", [None, "DEFERRED"])
def test_sqlite_with_deferred_transactions_is_fine_where_the_project_is_no_hub(
    settings, database_options, mode
):
    settings.LOGOUT_SSO = {}
    database_options("sqlite", {"transaction_mode": mode})

    assert run_sqlite_check() == []


def test_a_hub_on_postgresql_needs_no_transaction_mode(settings, database_options):
    settings.LOGOUT_SSO = {"HUB_ISSUER": "https://hub.example.com/", "HUB_SIGNING_KEY": PEM}
    database_options("postgresql", {})

    assert run_sqlite_check() == []
