"""Read the example project's configuration from environment variables (12-factor).

Kept apart from ``settings.py`` so that each rule can be tested with a plain dict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from django.core.exceptions import ImproperlyConfigured

from logout_sso.conf import SETTINGS

#: The name the example project's pages show without ``EXAMPLE_SITE_NAME``.
DEFAULT_SITE_NAME = "logout_sso example project"

#: The Celery queue of bulk work (organization-wide logouts), apart from single logouts.
BULK_QUEUE = "logout_sso_bulk"

# mozilla-django-oidc settings that are not strings, by how to read them from the environment.
BOOLEAN_OIDC_SETTINGS = frozenset(
    {
        "OIDC_ALLOW_UNSECURED_JWT",
        "OIDC_CREATE_USER",
        "OIDC_REDIRECT_REQUIRE_HTTPS",
        "OIDC_STORE_ACCESS_TOKEN",
        "OIDC_STORE_ID_TOKEN",
        "OIDC_TOKEN_USE_BASIC_AUTH",
        "OIDC_USE_NONCE",
        "OIDC_USE_PKCE",
        "OIDC_VERIFY_KID",
        "OIDC_VERIFY_SSL",
    }
)
JSON_OIDC_SETTINGS = frozenset(
    {
        "OIDC_AUTH_REQUEST_EXTRA_PARAMS",
        "OIDC_EXEMPT_URLS",
        "OIDC_MAX_STATES",
        "OIDC_NONCE_SIZE",
        "OIDC_PKCE_CODE_VERIFIER_SIZE",
        "OIDC_PROXY",
        "OIDC_REDIRECT_ALLOWED_HOSTS",
        "OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS",
        "OIDC_STATE_SIZE",
        "OIDC_TIMEOUT",
    }
)
# The provider's discovery document names these endpoints; explicit variables win.
DISCOVERED_ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
DISCOVERY_TIMEOUT_SECONDS = 5
LOGOUT_SSO_PREFIX = "LOGOUT_SSO_"
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


def var_dir(environ: Mapping[str, str]) -> Path:
    """Where the example project keeps its files: ``EXAMPLE_VAR_DIR``, default ``var/``."""
    default = Path(__file__).resolve().parent.parent / "var"
    return Path(environ.get("EXAMPLE_VAR_DIR", default))


def parse_bool(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use true or false.")


def parse_json(name: str, value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"{name} is not valid JSON: {exc}.") from exc


def logout_sso_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """``LOGOUT_SSO`` from ``LOGOUT_SSO_<KEY>`` variables, each a JSON value."""
    return {
        name.removeprefix(LOGOUT_SSO_PREFIX): parse_json(name, value)
        for name, value in environ.items()
        if name.startswith(LOGOUT_SSO_PREFIX)
    }


def discover(issuer: str) -> dict[str, Any]:
    """The provider's OpenID Connect discovery document, checked to belong to ``issuer``."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=DISCOVERY_TIMEOUT_SECONDS, allow_redirects=False)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ImproperlyConfigured(
            f"OIDC_OP_ISSUER: cannot read the discovery document {url}: {exc}"
        ) from exc
    if not isinstance(document, dict):
        raise ImproperlyConfigured(
            f"OIDC_OP_ISSUER: {url} is not a discovery document (not a JSON object)."
        )
    if document.get("issuer") != issuer:
        raise ImproperlyConfigured(
            f"OIDC_OP_ISSUER is {issuer!r} but {url} names the issuer "
            f"{document.get('issuer')!r}; they must match exactly."
        )
    return document


def oidc_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """mozilla-django-oidc's settings: every ``OIDC_*`` variable under its own name, typed,
    plus the endpoints of the discovery document when ``OIDC_OP_ISSUER`` is set."""
    values: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith("OIDC_"):
            continue
        if name in BOOLEAN_OIDC_SETTINGS:
            values[name] = parse_bool(name, value)
        elif name in JSON_OIDC_SETTINGS:
            values[name] = parse_json(name, value)
        else:
            values[name] = value
    if values.get("OIDC_OP_ISSUER"):
        document = discover(values["OIDC_OP_ISSUER"])
        for setting, member in DISCOVERED_ENDPOINTS.items():
            if setting not in values and document.get(member):
                values[setting] = document[member]
    return values


def cache_and_broker_settings(redis_url: str | None, var_dir: Path) -> dict[str, Any]:
    """Caches, session engine and Celery broker: Redis when ``REDIS_URL`` is set, otherwise
    pieces that need no server (the database cache, kombu's filesystem transport)."""
    if redis_url:
        return {
            "CACHES": {
                "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url}
            },
            "SESSION_ENGINE": "django.contrib.sessions.backends.cache",
            "CELERY_BROKER_URL": redis_url,
            # Unacknowledged messages come back after this long (Celery's default is an hour).
            "CELERY_BROKER_TRANSPORT_OPTIONS": {"visibility_timeout": 300},
        }
    broker_dir = var_dir / "broker"
    queue_dir, control_dir = broker_dir / "queue", broker_dir / "control"
    for folder in (queue_dir, control_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "CACHES": {
            "default": {
                "BACKEND": "django.core.cache.backends.db.DatabaseCache",
                "LOCATION": "logout_sso_cache",
            }
        },
        "SESSION_ENGINE": "django.contrib.sessions.backends.db",
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_BROKER_TRANSPORT_OPTIONS": {
            "data_folder_in": str(queue_dir),
            "data_folder_out": str(queue_dir),
            "control_folder": str(control_dir),
            "polling_interval": 0.1,
        },
    }


#: The beat schedule's entry of the policy sync (client mode).
POLICY_SYNC_ENTRY = "logout_sso-sync-policies"


def policy_sync_schedule(logout_sso: Mapping[str, Any]) -> dict[str, Any]:
    """The Celery beat entry of the policy sync, every ``POLICY_SYNC_INTERVAL`` seconds (as
    logout_sso reads it, default included), in client mode only (``HUB_URL`` and
    ``HUB_API_CREDENTIAL``); a sync not run within its interval is dropped: the next one
    comes."""
    if not (logout_sso.get("HUB_URL") and logout_sso.get("HUB_API_CREDENTIAL")):
        return {}
    key = "POLICY_SYNC_INTERVAL"
    interval = float(SETTINGS[key].parse(key, logout_sso.get(key, SETTINGS[key].default)))
    return {
        POLICY_SYNC_ENTRY: {
            "task": "logout_sso.sync_policies",
            "schedule": interval,
            "options": {"expires": interval},
        }
    }
