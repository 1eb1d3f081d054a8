"""logout_sso.conf.app_settings: the LOGOUT_SSO dict, read on every access and validated."""

import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.views.debug import SafeExceptionReporterFilter

from logout_sso.conf import TrustedIssuer, app_settings

ISSUER = {"issuer": "https://idp.example.com/", "audience": "crm-client"}


def error_message(**logout_sso):
    """The message of the ImproperlyConfigured raised when the settings are parsed."""
    with override_settings(LOGOUT_SSO=logout_sso), pytest.raises(ImproperlyConfigured) as exc_info:
        app_settings.validate()
    return str(exc_info.value)


# --- Defaults and reading -----------------------------------------------------------------------


def test_defaults_without_logout_sso(settings):
    del settings.LOGOUT_SSO

    assert app_settings.CACHE_ALIAS == "default"
    assert app_settings.POST_LOGOUT_REDIRECT_ALLOWLIST == []
    issuers = app_settings.TRUSTED_ISSUERS

    assert issuers == []
    app_settings.validate()


def test_defaults_with_empty_logout_sso(settings):
    settings.LOGOUT_SSO = {}

    assert app_settings.CACHE_ALIAS == "default"
    assert app_settings.POST_LOGOUT_REDIRECT_ALLOWLIST == []
    issuers = app_settings.TRUSTED_ISSUERS

    assert issuers == []


def test_settings_fixture_change_is_seen_at_once(settings):
    settings.LOGOUT_SSO = {"CACHE_ALIAS": "first"}
    assert app_settings.CACHE_ALIAS == "first"

    settings.LOGOUT_SSO = {"CACHE_ALIAS": "second"}
    assert app_settings.CACHE_ALIAS == "second"


def test_override_settings_is_seen_and_undone():
    with override_settings(LOGOUT_SSO={"CACHE_ALIAS": "sessions"}):
        assert app_settings.CACHE_ALIAS == "sessions"

    assert app_settings.CACHE_ALIAS == "default"


def test_returned_lists_are_copies(settings):
    settings.LOGOUT_SSO = {"POST_LOGOUT_REDIRECT_ALLOWLIST": ["https://app.example.com/bye"]}

    app_settings.POST_LOGOUT_REDIRECT_ALLOWLIST.append("https://evil.com/")

    assert app_settings.POST_LOGOUT_REDIRECT_ALLOWLIST == ["https://app.example.com/bye"]


# --- Shape of LOGOUT_SSO ------------------------------------------------------------------------


def test_unknown_key_is_named_with_the_known_keys():
    message = error_message(CACHE_ALAIS="default")

    assert message.startswith("LOGOUT_SSO has unknown key(s) 'CACHE_ALAIS'; known keys: ")
    known = message.split("known keys: ")[1].rstrip(".").split(", ")
    assert known == sorted(known)
    assert {"CACHE_ALIAS", "TRUSTED_ISSUERS", "HUB_ISSUER", "ORGANIZATION_RESOLVER"} <= set(known)


def test_unknown_key_fails_any_access(settings):
    settings.LOGOUT_SSO = {"TRUSTED_ISSUER": []}

    with pytest.raises(ImproperlyConfigured, match="'TRUSTED_ISSUER'"):
        _ = app_settings.CACHE_ALIAS


@pytest.mark.parametrize(
    ("value", "type_name"), [(["CACHE_ALIAS"], "list"), ("default", "str"), (None, "NoneType")]
)
def test_logout_sso_must_be_a_dict(settings, value, type_name):
    settings.LOGOUT_SSO = value

    with pytest.raises(ImproperlyConfigured) as exc_info:
        app_settings.validate()
    assert str(exc_info.value) == f"LOGOUT_SSO must be a dict, not {type_name}."


# --- CACHE_ALIAS --------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", [1, None, "", ["default"]])
def test_cache_alias_must_be_a_non_empty_string(alias):
    assert error_message(CACHE_ALIAS=alias) == (
        f"LOGOUT_SSO['CACHE_ALIAS'] must be the name of a cache in CACHES, not {alias!r}."
    )


# --- Limits and retention ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("MAX_SESSIONS_PER_USER", 50),
        ("MAX_SESSIONS_PER_APPLICATION", 1_000_000),
        ("LOGOUT_REPORTS_PER_MINUTE", 600),
        ("SESSION_RETENTION_DAYS", 30),
        ("EVENT_RETENTION_DAYS", 90),
        ("TRACKED_SESSION_MAX_AGE", 14 * 86_400),
        ("PURGE_BATCH_SIZE", 1000),
    ],
)
def test_limits_and_retention_defaults(settings, key, expected):
    settings.LOGOUT_SSO = {}
    assert getattr(app_settings, key) == expected


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("MAX_SESSIONS_PER_USER", 0, "must be a whole number from 1 to 100000000, not 0."),
        ("LOGOUT_REPORTS_PER_MINUTE", True, "must be a whole number from 1 to 100000000"),
        ("SESSION_RETENTION_DAYS", 0, "must be a number of days from 1 to 36500, not 0."),
        ("EVENT_RETENTION_DAYS", "90", "must be a number of days from 1 to 36500, not '90'."),
        ("TRACKED_SESSION_MAX_AGE", 59, "must be a number of seconds from 60 to 31622400"),
        ("PURGE_BATCH_SIZE", 1.5, "must be a whole number from 1 to 100000000, not 1.5."),
    ],
)
def test_bad_limits_and_retention_are_named(key, value, message):
    assert error_message(**{key: value}).startswith(f"LOGOUT_SSO[{key!r}] {message}")


# --- DELIVERY_CA_BUNDLE ------------------------------------------------------------------------


def test_ca_bundle_is_a_path_to_a_file(settings, tmp_path):
    bundle = tmp_path / "internal-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    settings.LOGOUT_SSO = {"DELIVERY_CA_BUNDLE": bundle}  # A Path, as settings often build it.
    path = app_settings.DELIVERY_CA_BUNDLE

    assert path == str(bundle)


@pytest.mark.parametrize("value", ["/nonexistent/ca.pem", 42, ""])
def test_ca_bundle_that_is_not_a_file_is_named(value):
    assert error_message(DELIVERY_CA_BUNDLE=value) == (
        "LOGOUT_SSO['DELIVERY_CA_BUNDLE'] must be the path of an existing file, or None, "
        f"not {value!r}."
    )


# --- PUBLIC_URL --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("https://hub.example.com", "https://hub.example.com"),
        ("https://hub.example.com:8443/", "https://hub.example.com:8443"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_public_url_is_an_origin(settings, value, expected):
    settings.LOGOUT_SSO = {"PUBLIC_URL": value}

    assert expected == app_settings.PUBLIC_URL


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "https://hub.example.com/sso/",
            "must be a scheme, a host and a port only, without a path: "
            "'https://hub.example.com/sso/'.",
        ),
        ("https://hub.example.com/?a=b", "must be a scheme, a host and a port only"),
        ("http://hub.example.com", "is invalid: http://hub.example.com must use https"),
    ],
)
def test_a_public_url_with_a_path_or_over_http_is_named(value, message):
    assert error_message(PUBLIC_URL=value).startswith(f"LOGOUT_SSO['PUBLIC_URL'] {message}")


# --- POST_LOGOUT_REDIRECT_ALLOWLIST -------------------------------------------------------------


def test_redirect_allowlist_parsed(settings):
    settings.LOGOUT_SSO = {
        "POST_LOGOUT_REDIRECT_ALLOWLIST": ("https://app.example.com/bye", "http://localhost/")
    }

    assert app_settings.POST_LOGOUT_REDIRECT_ALLOWLIST == [
        "https://app.example.com/bye",
        "http://localhost/",
    ]


def test_redirect_allowlist_with_a_bad_url_names_it():
    message = error_message(
        POST_LOGOUT_REDIRECT_ALLOWLIST=["https://app.example.com/bye", "http://example.com/bye"]
    )

    assert message == (
        "LOGOUT_SSO['POST_LOGOUT_REDIRECT_ALLOWLIST'] is invalid: http://example.com/bye must "
        "use https; plain http is only allowed for loopback hosts."
    )


def test_redirect_allowlist_must_be_a_list():
    assert error_message(POST_LOGOUT_REDIRECT_ALLOWLIST="https://app.example.com/bye") == (
        "LOGOUT_SSO['POST_LOGOUT_REDIRECT_ALLOWLIST'] must be a list of URLs, not str."
    )


# --- TRUSTED_ISSUERS ----------------------------------------------------------------------------


def test_trusted_issuer_parsed_with_default_algorithm(settings):
    settings.LOGOUT_SSO = {"TRUSTED_ISSUERS": [ISSUER]}

    issuers = app_settings.TRUSTED_ISSUERS

    assert issuers == [
        TrustedIssuer(
            issuer="https://idp.example.com/",
            audience="crm-client",
            jwks_uri=None,
            algorithms=("RS256",),
        )
    ]


def test_trusted_issuer_with_every_key(settings):
    settings.LOGOUT_SSO = {
        "TRUSTED_ISSUERS": [
            {
                **ISSUER,
                "jwks_uri": "https://idp.example.com/.well-known/jwks.json",
                "algorithms": ["ES256", "RS256"],
            }
        ]
    }

    issuers = app_settings.TRUSTED_ISSUERS

    assert issuers == [
        TrustedIssuer(
            issuer="https://idp.example.com/",
            audience="crm-client",
            jwks_uri="https://idp.example.com/.well-known/jwks.json",
            algorithms=("ES256", "RS256"),
        )
    ]


@pytest.mark.parametrize("missing", ["issuer", "audience"])
def test_trusted_issuer_without_required_key(missing):
    item = {key: value for key, value in ISSUER.items() if key != missing}

    message = error_message(TRUSTED_ISSUERS=[item])

    assert message.startswith(
        f"LOGOUT_SSO['TRUSTED_ISSUERS'] has an item without a non-empty string {missing!r}"
    )


def test_trusted_issuer_with_empty_audience():
    message = error_message(TRUSTED_ISSUERS=[{**ISSUER, "audience": ""}])

    assert "without a non-empty string 'audience'" in message


def test_trusted_issuer_audience_defaults_to_the_oidc_client_id(settings):
    settings.OIDC_RP_CLIENT_ID = "wiki-client"
    settings.LOGOUT_SSO = {"TRUSTED_ISSUERS": [{"issuer": "https://hub.example.com/sso/"}]}

    [issuer] = app_settings.TRUSTED_ISSUERS

    assert (issuer.issuer, issuer.audience) == ("https://hub.example.com/sso/", "wiki-client")


def test_trusted_issuer_audience_given_wins_over_the_oidc_client_id(settings):
    settings.OIDC_RP_CLIENT_ID = "wiki-client"
    settings.LOGOUT_SSO = {"TRUSTED_ISSUERS": [ISSUER]}

    assert app_settings.TRUSTED_ISSUERS[0].audience == "crm-client"


def test_trusted_issuer_without_audience_nor_oidc_client_id_says_both(settings):
    if hasattr(settings, "OIDC_RP_CLIENT_ID"):
        del settings.OIDC_RP_CLIENT_ID

    message = error_message(TRUSTED_ISSUERS=[{"issuer": "https://hub.example.com/sso/"}])

    assert message == (
        "LOGOUT_SSO['TRUSTED_ISSUERS'] has an item without a non-empty string 'audience' (nor "
        "OIDC_RP_CLIENT_ID, its default): {'issuer': 'https://hub.example.com/sso/'}."
    )


def test_trusted_issuer_unknown_sub_key_is_named():
    message = error_message(TRUSTED_ISSUERS=[{**ISSUER, "audiance": "crm"}])

    assert message == (
        "LOGOUT_SSO['TRUSTED_ISSUERS'] has an item with unknown key(s) 'audiance'; "
        "known keys: algorithms, audience, issuer, jwks_uri, subject_issuer."
    )


def test_trusted_issuer_over_plain_http_is_rejected():
    message = error_message(TRUSTED_ISSUERS=[{**ISSUER, "issuer": "http://idp.example.com/"}])

    assert message == (
        "LOGOUT_SSO['TRUSTED_ISSUERS'] is invalid: http://idp.example.com/ must use https; "
        "plain http is only allowed for loopback hosts."
    )


def test_trusted_issuer_on_loopback_may_use_http(settings):
    settings.LOGOUT_SSO = {"TRUSTED_ISSUERS": [{**ISSUER, "issuer": "http://localhost:8080/"}]}

    assert app_settings.TRUSTED_ISSUERS[0].issuer == "http://localhost:8080/"


def test_trusted_issuer_bad_jwks_uri_is_rejected():
    message = error_message(TRUSTED_ISSUERS=[{**ISSUER, "jwks_uri": "https://idp.example.com/#k"}])

    assert "https://idp.example.com/#k must not contain a fragment" in message


@pytest.mark.parametrize(
    "algorithms",
    [["HS256"], ["none"], [], ["RS256", "HS256"], "RS256", None, [["RS256"]], [{"alg": "RS256"}]],
)
def test_trusted_issuer_algorithms_must_be_asymmetric(algorithms):
    message = error_message(TRUSTED_ISSUERS=[{**ISSUER, "algorithms": algorithms}])

    assert message.startswith(
        f"LOGOUT_SSO['TRUSTED_ISSUERS'] has 'algorithms' {algorithms!r} for "
        "'https://idp.example.com/'; use a non-empty list of "
    )
    assert re.search(r"\bRS256\b.*\bES256\b|\bES256\b.*\bRS256\b", message)
    assert "HS256" not in message.split("use a non-empty list of")[1]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("not-a-list", "must be a list of objects, not str."),
        (ISSUER, "must be a list of objects, not dict."),
        (["https://idp.example.com/"], "items must be objects with 'issuer' and 'audience'"),
    ],
)
def test_trusted_issuers_must_be_a_list_of_objects(value, expected):
    message = error_message(TRUSTED_ISSUERS=value)

    assert message.startswith("LOGOUT_SSO['TRUSTED_ISSUERS'] ")
    assert expected in message


def test_unknown_keys_of_mixed_types_are_named():
    with (
        override_settings(LOGOUT_SSO={"CACHE_ALIAS": "default", 1: "x"}),
        pytest.raises(ImproperlyConfigured, match=r"unknown key\(s\) 1;"),
    ):
        app_settings.validate()


def test_trusted_issuer_sub_keys_of_mixed_types_are_named():
    issuer = {"issuer": "https://idp.example.com", "audience": "app", 2: "x"}
    with (
        override_settings(LOGOUT_SSO={"TRUSTED_ISSUERS": [issuer]}),
        pytest.raises(ImproperlyConfigured, match=r"unknown key\(s\) 2;"),
    ):
        app_settings.validate()


def test_class_path_settings_are_imported(settings):
    settings.LOGOUT_SSO = {"LOGOUT_URL_BUILDER": "logout_sso.rp.logout_urls.Auth0LogoutURLBuilder"}

    assert app_settings.LOGOUT_URL_BUILDER.__name__ == "Auth0LogoutURLBuilder"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nodots", "must be the dotted path of a class"),
        ("logout_sso.rp.nothing.Here", "cannot be imported"),
        ("logout_sso.conf.app_settings", "is not a class"),
    ],
)
def test_bad_class_path_is_named(settings, value, message):
    settings.LOGOUT_SSO = {"ORGANIZATION_RESOLVER": value}

    with pytest.raises(ImproperlyConfigured, match=message):
        app_settings.validate()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ORGANIZATION_CLAIM", ""),
        ("EXEMPT_PATHS", "/health/"),
        ("EXEMPT_PATHS", ["/ok/", ""]),
        ("END_SESSION_ENDPOINT", "http://idp.example.com/logout"),
    ],
)
def test_bad_relying_party_settings_are_rejected(settings, key, value):
    settings.LOGOUT_SSO = {key: value}

    with pytest.raises(ImproperlyConfigured, match=key):
        app_settings.validate()


@pytest.mark.parametrize(
    "key", ["HUB_API_CREDENTIAL", "HUB_SIGNING_KEY", "HUB_SIGNING_KEYS_INACTIVE"]
)
def test_secrets_are_hidden_from_django_error_reports(settings, key):
    settings.LOGOUT_SSO = {key: "the-secret"}

    shown = SafeExceptionReporterFilter().get_safe_settings()["LOGOUT_SSO"]

    assert shown[key] == SafeExceptionReporterFilter.cleansed_substitute
