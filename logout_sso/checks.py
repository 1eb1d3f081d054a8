"""System checks: misconfiguration is found by ``manage.py check``, not at the first logout."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections, router
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.module_loading import import_string

from logout_sso.conf import app_settings
from logout_sso.handlers import is_hub
from logout_sso.internal import metrics
from logout_sso.metrics import MetricsView
from logout_sso.models.organizations import LogoutPolicy
from logout_sso.rp.internal import hub_membership
from logout_sso.rp.internal.mirror_state import mirror_state, stale_after

__all__ = ["Codes", "Hints", "Messages"]

PER_PROCESS_CACHES = frozenset(
    {
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    }
)
#: SQLite transaction modes that take the write lock when the transaction begins.
LOCKING_TRANSACTION_MODES = frozenset({"IMMEDIATE", "EXCLUSIVE"})
SIGNED_COOKIES_ENGINE = "django.contrib.sessions.backends.signed_cookies"
OIDC_BACKEND = "mozilla_django_oidc.auth.OIDCAuthenticationBackend"
RP_BACKEND = "logout_sso.rp.backend.OrganizationOIDCBackend"
RP_MIDDLEWARE = "logout_sso.rp.middleware.ShortLivedSessionMiddleware"
OIDC_REQUIRED_SETTINGS = (
    "OIDC_RP_CLIENT_ID",
    "OIDC_RP_CLIENT_SECRET",
    "OIDC_OP_AUTHORIZATION_ENDPOINT",
    "OIDC_OP_TOKEN_ENDPOINT",
    "OIDC_OP_USER_ENDPOINT",
)


class Codes:
    INVALID_SETTINGS = "logout_sso.E001"
    SIGNED_COOKIES = "logout_sso.E002"
    UNKNOWN_CACHE = "logout_sso.E003"
    CACHE_NOT_SHARED_WITH_WORKERS = "logout_sso.E004"
    OIDC_SETTINGS_MISSING = "logout_sso.E005"
    OIDC_KEYS_MISSING = "logout_sso.E006"
    SESSIONS_NOT_INSTALLED = "logout_sso.E007"
    ISSUER_MISSING = "logout_sso.E008"
    EXTRA_MISSING = "logout_sso.E009"
    MIDDLEWARE_MISSING = "logout_sso.W003"
    POLICY_DEFEATS_SLO = "logout_sso.W001"
    CACHE_NOT_SHARED = "logout_sso.W002"
    SQLITE_DEFERRED_TRANSACTIONS = "logout_sso.W004"
    POLICY_MIRROR_STALE = "logout_sso.W005"
    METRICS_NOT_MULTIPROCESS = "logout_sso.W006"


class Messages:
    SIGNED_COOKIES = (
        "SESSION_ENGINE is the signed-cookies engine: a session stored in the browser cannot be "
        "ended from the server, so no logout can reach it."
    )
    UNKNOWN_CACHE = "LOGOUT_SSO['CACHE_ALIAS'] is {alias!r}, which is not a key of CACHES."
    CACHE_NOT_SHARED_WITH_WORKERS = (
        "The cache {alias!r} ({backend}) lives inside each process, but Celery workers are "
        "configured (CELERY_BROKER_URL): workers and web processes would not see each other's "
        "policy changes, identity providers' keys or the session API's counts."
    )
    CACHE_NOT_SHARED = (
        "The cache {alias!r} ({backend}) lives inside each process: fine for one development "
        "server, wrong with several web processes."
    )
    OIDC_SETTINGS_MISSING = "The OpenID Connect backend is enabled but {names} not set."
    OIDC_KEYS_MISSING = (
        "OIDC_RP_SIGN_ALGO is {algorithm}, but neither OIDC_OP_JWKS_ENDPOINT nor "
        "OIDC_RP_IDP_SIGN_KEY is set, so no ID token can be verified."
    )
    SESSIONS_NOT_INSTALLED = (
        "logout_sso ends server-side sessions, but django.contrib.sessions is not installed."
    )
    ISSUER_MISSING = (
        "logout_sso's OpenID Connect backend is enabled but OIDC_OP_ISSUER is not set, so no "
        "ID token's issuer can be checked."
    )
    MIDDLEWARE_MISSING = (
        "logout_sso's OpenID Connect backend is enabled but ShortLivedSessionMiddleware is not "
        "in MIDDLEWARE: sessions are never re-checked, so short-lived tokens give no SLO."
    )
    POLICY_DEFEATS_SLO = (
        "Organization {organization!r} auto-forwards users to its enterprise connection and "
        "uses short-lived tokens without federated logout: it gets no Single Logout, because "
        "the silent re-check succeeds at the organization's own IdP, which never hears of the "
        "logout."
    )

    EXTRA_MISSING = "{need}, but {module} cannot be imported."
    POLICY_MIRROR_STALE = (
        "The organizations and policies mirrored from the hub {hub_url} were last confirmed "
        "{confirmed}, longer ago than {threshold} s (five times POLICY_SYNC_INTERVAL): {cause} "
        "The last known ones stay in force meanwhile."
    )
    MIRROR_LAST_ERROR = "the last attempt failed: {error}."
    MIRROR_NOT_ATTEMPTED = "no attempt failed; is the task logout_sso.sync_policies scheduled?"
    METRICS_NOT_MULTIPROCESS = (
        "This project is a hub and mounts the metrics view, but PROMETHEUS_MULTIPROC_DIR is "
        "not set: the view shows the counters of the process it runs in only, and the "
        "deliveries, counted in the Celery workers, are missing from it."
    )
    SQLITE_DEFERRED_TRANSACTIONS = (
        "This project is a hub on the SQLite database {alias!r}, whose transactions do not take "
        "the write lock when they begin: its Celery workers and web processes write at once, "
        "and SQLite refuses a transaction that read before it wrote while another writes "
        "('database is locked'), whatever the timeout."
    )


class Hints:
    SIGNED_COOKIES = "Use the db, cache, cached_db or django-redis session engine."
    UNKNOWN_CACHE = "Add that cache to CACHES or name an existing one."
    SHARED_CACHE = "Use django-redis (or another shared cache) for this cache alias."
    OIDC_SETTINGS_MISSING = "See mozilla-django-oidc's settings documentation."
    OIDC_KEYS_MISSING = "Set OIDC_OP_JWKS_ENDPOINT to the provider's jwks_uri."
    SESSIONS_NOT_INSTALLED = "Add 'django.contrib.sessions' to INSTALLED_APPS."
    ISSUER_MISSING = "Set OIDC_OP_ISSUER to the 'issuer' of the provider's discovery document."
    MIDDLEWARE_MISSING = f"Add '{RP_MIDDLEWARE}' after AuthenticationMiddleware."
    EXTRA_MISSING = "pip install 'django-logout-sso[{extra}]'"
    POLICY_MIRROR_STALE = (
        "Run python manage.py logout_sso_sync to sync now and see why it fails; Celery beat must "
        "run logout_sso.sync_policies every POLICY_SYNC_INTERVAL seconds."
    )
    METRICS_NOT_MULTIPROCESS = (
        "Set PROMETHEUS_MULTIPROC_DIR to one empty directory for the web processes and Celery "
        "workers of each host, before they start; or give each worker host an endpoint of its "
        "own (logout_sso.metrics.start_metrics_server) and silence this check."
    )
    SQLITE_DEFERRED_TRANSACTIONS = (
        "Set DATABASES[{alias!r}]['OPTIONS']['transaction_mode'] = 'IMMEDIATE' (with a "
        "'timeout' of some seconds, e.g. 20), or use PostgreSQL."
    )
    POLICY_DEFEATS_SLO = (
        "Turn federated logout on, switch the Single Logout mode to the logout service, or "
        "stop auto-forwarding."
    )


@register(Tags.compatibility)
def check_settings(
    app_configs: Sequence[AppConfig] | None, databases: Sequence[str] | None, **kwargs: Any
) -> list[CheckMessage]:
    """LOGOUT_SSO itself, the session engine and the cache."""
    try:
        app_settings.validate()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id=Codes.INVALID_SETTINGS)]
    messages: list[CheckMessage] = []
    if not apps.is_installed("django.contrib.sessions"):
        messages.append(
            Error(
                Messages.SESSIONS_NOT_INSTALLED,
                hint=Hints.SESSIONS_NOT_INSTALLED,
                id=Codes.SESSIONS_NOT_INSTALLED,
            )
        )
    if settings.SESSION_ENGINE == SIGNED_COOKIES_ENGINE:
        messages.append(
            Error(Messages.SIGNED_COOKIES, hint=Hints.SIGNED_COOKIES, id=Codes.SIGNED_COOKIES)
        )
    messages.extend(_check_cache())
    return messages


def _check_cache() -> list[CheckMessage]:
    alias = app_settings.CACHE_ALIAS
    if alias not in settings.CACHES:
        return [
            Error(
                Messages.UNKNOWN_CACHE.format(alias=alias),
                hint=Hints.UNKNOWN_CACHE,
                id=Codes.UNKNOWN_CACHE,
            )
        ]
    backend = settings.CACHES[alias].get("BACKEND", "")
    if backend not in PER_PROCESS_CACHES:
        return []
    if getattr(settings, "CELERY_BROKER_URL", None):
        return [
            Error(
                Messages.CACHE_NOT_SHARED_WITH_WORKERS.format(alias=alias, backend=backend),
                hint=Hints.SHARED_CACHE,
                id=Codes.CACHE_NOT_SHARED_WITH_WORKERS,
            )
        ]
    return [
        Warning(
            Messages.CACHE_NOT_SHARED.format(alias=alias, backend=backend),
            hint=Hints.SHARED_CACHE,
            id=Codes.CACHE_NOT_SHARED,
        )
    ]


def _uses_backend(base_path: str) -> bool:
    base = import_string(base_path)
    for path in settings.AUTHENTICATION_BACKENDS:
        try:
            backend = import_string(path)
        except ImportError:
            continue  # Django reports unimportable backends itself.
        if isinstance(backend, type) and issubclass(backend, base):
            return True
    return False


def _importable(module: str) -> bool:
    try:
        import_module(module)
    except ImportError:
        return False
    return True


@register(Tags.compatibility)
def check_extras(
    app_configs: Sequence[AppConfig] | None, databases: Sequence[str] | None, **kwargs: Any
) -> list[CheckMessage]:
    """The optional dependencies the settings need: libcurl's binding where this project is a
    hub (``[hub]``), django-redis where a cache or the sessions use it (``[redis]``),
    prometheus-client where the URLconf mounts the metrics view (``[metrics]``)."""
    try:
        is_hub = bool(app_settings.HUB_SIGNING_KEY)
    except ImproperlyConfigured:
        return []  # logout_sso.E001 says why.
    uses_redis = any(
        str(cache.get("BACKEND", "")).startswith("django_redis.")
        for cache in settings.CACHES.values()
    )
    needs = [
        ("hub", "pycurl", is_hub, 'LOGOUT_SSO["HUB_SIGNING_KEY"] makes this project a hub'),
        ("redis", "django_redis", uses_redis, "A cache of CACHES is django-redis"),
        ("metrics", "prometheus_client", _mounts_metrics(), "The URLconf mounts MetricsView"),
    ]
    return [
        Error(
            Messages.EXTRA_MISSING.format(need=need, module=module),
            hint=Hints.EXTRA_MISSING.format(extra=extra),
            id=Codes.EXTRA_MISSING,
        )
        for extra, module, needed, need in needs
        if needed and not _importable(module)
    ]


def _mounts_metrics() -> bool:
    """Whether the project's URLconf mounts :class:`~logout_sso.metrics.MetricsView` (or a
    subclass of it)."""
    if not getattr(settings, "ROOT_URLCONF", None):
        return False

    def mounted(patterns: Sequence[URLPattern | URLResolver]) -> bool:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if mounted(pattern.url_patterns):
                    return True
                continue
            view_class = getattr(pattern.callback, "view_class", None)
            if isinstance(view_class, type) and issubclass(view_class, MetricsView):
                return True
        return False

    return mounted(get_resolver().url_patterns)


@register(Tags.compatibility)
def check_metrics_multiprocess(
    app_configs: Sequence[AppConfig] | None, databases: Sequence[str] | None, **kwargs: Any
) -> list[CheckMessage]:
    """A hub whose metrics view cannot see its workers' counters."""
    if not is_hub() or metrics.multiprocess() or not _mounts_metrics():
        return []
    return [
        Warning(
            Messages.METRICS_NOT_MULTIPROCESS,
            hint=Hints.METRICS_NOT_MULTIPROCESS,
            id=Codes.METRICS_NOT_MULTIPROCESS,
        )
    ]


@register(Tags.compatibility)
def check_sqlite_transactions(
    app_configs: Sequence[AppConfig] | None, databases: Sequence[str] | None, **kwargs: Any
) -> list[CheckMessage]:
    """Where this project is a hub, each SQLite database logout_sso writes to begins its
    transactions with the write lock (``transaction_mode`` IMMEDIATE or EXCLUSIVE)."""
    if not is_hub():
        return []
    written = {
        router.db_for_write(model) for model in apps.get_app_config("logout_sso").get_models()
    }
    return [
        Warning(
            Messages.SQLITE_DEFERRED_TRANSACTIONS.format(alias=alias),
            hint=Hints.SQLITE_DEFERRED_TRANSACTIONS.format(alias=alias),
            id=Codes.SQLITE_DEFERRED_TRANSACTIONS,
        )
        for alias in sorted(written)
        if connections[alias].vendor == "sqlite" and not _locks_when_beginning(alias)
    ]


def _locks_when_beginning(alias: str) -> bool:
    """Whether the SQLite database ``alias`` begins its transactions with the write lock."""
    mode = connections[alias].settings_dict.get("OPTIONS", {}).get("transaction_mode")
    return str(mode or "").upper() in LOCKING_TRANSACTION_MODES


@register(Tags.security)
def check_oidc_settings(
    app_configs: Sequence[AppConfig] | None, databases: Sequence[str] | None, **kwargs: Any
) -> list[CheckMessage]:
    """mozilla-django-oidc's settings, when its backend (or a subclass) authenticates users."""
    if not _uses_backend(OIDC_BACKEND):
        return []
    missing = [name for name in OIDC_REQUIRED_SETTINGS if not getattr(settings, name, None)]
    if missing:
        names = ", ".join(missing) + (" is" if len(missing) == 1 else " are")
        return [
            Error(
                Messages.OIDC_SETTINGS_MISSING.format(names=names),
                hint=Hints.OIDC_SETTINGS_MISSING,
                id=Codes.OIDC_SETTINGS_MISSING,
            )
        ]
    algorithm = getattr(settings, "OIDC_RP_SIGN_ALGO", "HS256")
    if algorithm.startswith(("RS", "ES", "PS")) and not (
        getattr(settings, "OIDC_OP_JWKS_ENDPOINT", None)
        or getattr(settings, "OIDC_RP_IDP_SIGN_KEY", None)
    ):
        return [
            Error(
                Messages.OIDC_KEYS_MISSING.format(algorithm=algorithm),
                hint=Hints.OIDC_KEYS_MISSING,
                id=Codes.OIDC_KEYS_MISSING,
            )
        ]
    return []


@register(Tags.database)
def check_policies(
    app_configs: Sequence[AppConfig] | None, databases: Sequence[str] | None, **kwargs: Any
) -> list[CheckMessage]:
    """Every organization caught in the auto-forward trap (no SLO). A database check: it runs
    with ``manage.py check --database default`` and before ``migrate``, not on every command."""
    messages: list[CheckMessage] = []
    for alias in databases or ():
        policies = LogoutPolicy.objects.using(alias).defeating_single_logout()
        try:
            trapped = list(policies.select_related("organization"))
        except DatabaseError:
            continue  # Tables not created yet: `migrate` runs checks before migrating.
        messages.extend(
            Warning(
                Messages.POLICY_DEFEATS_SLO.format(organization=policy.organization.slug),
                hint=Hints.POLICY_DEFEATS_SLO,
                obj=policy.organization,
                id=Codes.POLICY_DEFEATS_SLO,
            )
            for policy in trapped
        )
    return messages


@register(Tags.database)
def check_policy_mirror(
    app_configs: Sequence[AppConfig] | None, databases: Sequence[str] | None, **kwargs: Any
) -> list[CheckMessage]:
    """Client mode: the copy of the hub's organizations and policies is stale (the hub has not
    confirmed it for five times ``POLICY_SYNC_INTERVAL``). A database check, like
    :func:`check_policies`."""
    try:
        if not hub_membership.enabled():
            return []
    except ImproperlyConfigured:
        return []  # logout_sso.E001 says why.
    messages: list[CheckMessage] = []
    for alias in databases or ():
        try:
            state = mirror_state(using=alias)
        except DatabaseError:
            continue  # Tables not created yet: `migrate` runs checks before migrating.
        if state.stale:
            messages.append(
                Warning(
                    Messages.POLICY_MIRROR_STALE.format(
                        hub_url=state.hub_url,
                        confirmed=state.synced_at.isoformat() if state.synced_at else "never",
                        threshold=int(stale_after().total_seconds()),
                        cause=Messages.MIRROR_LAST_ERROR.format(error=state.last_error)
                        if state.last_error
                        else Messages.MIRROR_NOT_ATTEMPTED,
                    ),
                    hint=Hints.POLICY_MIRROR_STALE,
                    id=Codes.POLICY_MIRROR_STALE,
                )
            )
    return messages


@register(Tags.security)
def check_relying_party(
    app_configs: Sequence[AppConfig] | None, databases: Sequence[str] | None, **kwargs: Any
) -> list[CheckMessage]:
    """What logout_sso's own backend needs beside mozilla-django-oidc's settings."""
    if not _uses_backend(RP_BACKEND):
        return []
    messages: list[CheckMessage] = []
    if not getattr(settings, "OIDC_OP_ISSUER", None):
        messages.append(
            Error(Messages.ISSUER_MISSING, hint=Hints.ISSUER_MISSING, id=Codes.ISSUER_MISSING)
        )
    if RP_MIDDLEWARE not in settings.MIDDLEWARE:
        messages.append(
            Warning(
                Messages.MIDDLEWARE_MISSING,
                hint=Hints.MIDDLEWARE_MISSING,
                id=Codes.MIDDLEWARE_MISSING,
            )
        )
    return messages
