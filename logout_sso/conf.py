"""logout_sso's settings: one ``LOGOUT_SSO`` dict in the project's settings.

Read on every access, never cached, so ``override_settings`` and pytest-django's ``settings``
fixture just work. A key logout_sso does not know, or a value of the wrong shape, raises
:class:`~django.core.exceptions.ImproperlyConfigured` naming it (``manage.py check`` reports the
same as ``logout_sso.E001``). Each key's ``help`` is its documentation: the settings reference
of the docs site (docs/reference/settings.md) is generated from :data:`SETTINGS`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils.module_loading import import_string

from logout_sso.internal.validators import validate_secure_url

__all__ = ["AppSettings", "TrustedIssuer", "app_settings"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Signature algorithms a trusted issuer may use: asymmetric only, so that a public key can never
#: be turned into an HMAC secret.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
TRUSTED_ISSUER_KEYS = frozenset({"issuer", "jwks_uri", "audience", "algorithms", "subject_issuer"})


@dataclass(frozen=True)
class TrustedIssuer:
    """An issuer whose back-channel logout tokens this project accepts."""

    issuer: str
    audience: str
    jwks_uri: str | None = None
    algorithms: tuple[str, ...] = ("RS256",)
    #: Whose ``sub`` and ``sid`` its tokens name: a logout_sso hub relays the IdP's.
    subject_issuer: str | None = None

    @property
    def sessions_issuer(self) -> str:
        """The issuer under which the sessions its tokens end were signed in."""
        return self.subject_issuer or self.issuer


def _fail(key: str, message: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"LOGOUT_SSO[{key!r}] {message}")


def _check_url(key: str, value: Any) -> str:
    try:
        validate_secure_url(value)
    except ValidationError as exc:
        raise _fail(key, f"is invalid: {' '.join(exc.messages)}") from exc
    return str(value)


def _cache_alias(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(key, f"must be the name of a cache in CACHES, not {value!r}.")
    return value


def _non_empty_string(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(key, f"must be a non-empty string, not {value!r}.")
    return value


def _class_path(key: str, value: Any) -> type:
    if not isinstance(value, str) or "." not in value:
        raise _fail(key, f"must be the dotted path of a class, not {value!r}.")
    try:
        imported = import_string(value)
    except ImportError as exc:
        raise _fail(key, f"names {value!r}, which cannot be imported: {exc}") from exc
    if not isinstance(imported, type):
        raise _fail(key, f"names {value!r}, which is not a class.")
    return imported


def _whole_number(low: int, high: int, what: str) -> Callable[[str, Any], int]:
    """The parser of a whole number from ``low`` to ``high`` (``what``: "a number of days")."""

    def parse(key: str, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise _fail(key, f"must be {what} from {low} to {high}, not {value!r}.")
        return value

    return parse


_seconds = _whole_number(0, 24 * 60 * 60, "a number of seconds")
_long_seconds = _whole_number(60, 366 * 24 * 60 * 60, "a number of seconds")
_days = _whole_number(1, 36_500, "a number of days")
_positive_int = _whole_number(1, 1000, "a whole number")
_limit = _whole_number(1, 100_000_000, "a whole number")


def _timeout(key: str, value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 60:
        raise _fail(key, f"must be a number of seconds above 0 and at most 60, not {value!r}.")
    return float(value)


def _boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(key, f"must be True or False, not {value!r}.")
    return value


def _pem(key: str, value: Any) -> str:
    if not isinstance(value, str) or "-----BEGIN" not in value or "PRIVATE KEY-----" not in value:
        raise _fail(key, "must be a PEM-encoded private key (-----BEGIN ... PRIVATE KEY-----).")
    return value


def _optional_pem(key: str, value: Any) -> str | None:
    return None if value is None else _pem(key, value)


def _pem_list(key: str, value: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        raise _fail(key, f"must be a list of PEM-encoded private keys, not {type(value).__name__}.")
    return [_pem(key, item) for item in value]


def _optional_string(key: str, value: Any) -> str | None:
    return None if value is None else _non_empty_string(key, value)


def _optional_file(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike) or not os.path.isfile(value):
        raise _fail(key, f"must be the path of an existing file, or None, not {value!r}.")
    return os.fspath(value)


def _optional_url(key: str, value: Any) -> str | None:
    return None if value is None else _check_url(key, value)


def _optional_origin(key: str, value: Any) -> str | None:
    if value is None:
        return None
    parts = urlsplit(_check_url(key, value))
    if parts.path not in ("", "/") or parts.query:
        raise _fail(key, f"must be a scheme, a host and a port only, without a path: {value!r}.")
    return f"{parts.scheme}://{parts.netloc}"


def _string_list(key: str, value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not all(
        isinstance(item, str) and item for item in value
    ):
        raise _fail(key, f"must be a list of non-empty strings, not {value!r}.")
    return list(value)


def _url_list(key: str, value: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        raise _fail(key, f"must be a list of URLs, not {type(value).__name__}.")
    return [_check_url(key, url) for url in value]


def _networks(key: str, value: Any) -> tuple[IPNetwork, ...]:
    if not isinstance(value, list | tuple):
        raise _fail(key, f"must be a list of networks (CIDR), not {type(value).__name__}.")
    networks = []
    for item in value:
        try:
            if not isinstance(item, str):
                raise TypeError("not a string")
            networks.append(ipaddress.ip_network(item))
        except (TypeError, ValueError) as exc:
            raise _fail(
                key, f"has {item!r}, which is not a network such as '10.0.0.0/8': {exc}"
            ) from exc
    return tuple(networks)


def _trusted_issuer(key: str, item: Any) -> TrustedIssuer:
    if not isinstance(item, Mapping):
        raise _fail(key, f"items must be objects with 'issuer' and 'audience', not {item!r}.")
    unknown = sorted(map(repr, set(item) - TRUSTED_ISSUER_KEYS))
    if unknown:
        raise _fail(
            key,
            f"has an item with unknown key(s) {', '.join(unknown)}; "
            f"known keys: {', '.join(sorted(TRUSTED_ISSUER_KEYS))}.",
        )
    if not isinstance(item.get("issuer"), str) or not item["issuer"]:
        raise _fail(key, f"has an item without a non-empty string 'issuer': {item!r}.")
    audience = item.get("audience", getattr(settings, "OIDC_RP_CLIENT_ID", None))
    if not isinstance(audience, str) or not audience:
        default = "" if "audience" in item else " (nor OIDC_RP_CLIENT_ID, its default)"
        raise _fail(key, f"has an item without a non-empty string 'audience'{default}: {item!r}.")
    algorithms = item.get("algorithms", ["RS256"])
    if (
        not isinstance(algorithms, list | tuple)
        or not algorithms
        or not all(isinstance(algorithm, str) for algorithm in algorithms)
        or not set(algorithms) <= ASYMMETRIC_ALGORITHMS
    ):
        raise _fail(
            key,
            f"has 'algorithms' {algorithms!r} for {item['issuer']!r}; use a non-empty list "
            f"of {', '.join(sorted(ASYMMETRIC_ALGORITHMS))}.",
        )
    return TrustedIssuer(
        issuer=_check_url(key, item["issuer"]),
        audience=audience,
        jwks_uri=_optional_url(key, item.get("jwks_uri")),
        algorithms=tuple(algorithms),
        subject_issuer=_optional_url(key, item.get("subject_issuer")),
    )


def _trusted_issuers(key: str, value: Any) -> list[TrustedIssuer]:
    if not isinstance(value, list | tuple):
        raise _fail(key, f"must be a list of objects, not {type(value).__name__}.")
    return [_trusted_issuer(key, item) for item in value]


@dataclass(frozen=True)
class _Setting:
    default: Any
    parse: Callable[[str, Any], Any]
    #: What the setting does, with its unit, range and what ``None`` means (Markdown): the
    #: documentation's settings reference is generated from it.
    help: str


_HTTPS_URL = "An absolute `https` URL (`http` only for loopback hosts), no user name, no fragment."

SETTINGS: dict[str, _Setting] = {
    "CACHE_ALIAS": _Setting(
        "default",
        _cache_alias,
        help=(
            "The cache (a key of `CACHES`) where logout_sso keeps organizations' policies (so a "
            "request costs no query), the identity providers' discovery documents and keys "
            "(JWKS), and the session API's counters (`LOGOUT_REPORTS_PER_MINUTE`, "
            "`MAX_SESSIONS_PER_APPLICATION`). It must be shared by every web process and Celery "
            "worker: django-redis, or Django's database cache."
        ),
    ),
    "DELIVERY_ALLOW_PRIVATE_ADDRESSES": _Setting(
        False,
        _boolean,
        help=(
            "Allow the hub's connections to loopback, private and link-local addresses "
            "(development and tests only): back-channel logouts, and the requests to "
            "organizations' Shared Signals transmitters."
        ),
    ),
    "DELIVERY_CA_BUNDLE": _Setting(
        None,
        _optional_file,
        help=(
            "Path of a PEM file of the certificate authorities the hub trusts for applications' "
            "HTTPS, for applications certified by a private (company) authority; `None`: "
            "certifi's bundle of public authorities. A certificate the hub cannot verify fails "
            "the delivery at once, with libcurl's reason, and no request is sent."
        ),
    ),
    "DELIVERY_CONCURRENCY": _Setting(
        100,
        _positive_int,
        help=(
            "Back-channel logouts one worker process sends at once (a batch: read or claimed, "
            "signed, then sent together); its connection cache keeps four times as many "
            "connections alive. From 1 to 1000."
        ),
    ),
    "DELIVERY_CONNECT_TIMEOUT": _Setting(
        3.05,
        _timeout,
        help=(
            "Seconds to connect to an application (above 0, at most 60). A delivery's claim "
            "lasts this plus `DELIVERY_READ_TIMEOUT` plus 5 s."
        ),
    ),
    "DELIVERY_READ_TIMEOUT": _Setting(
        5.0,
        _timeout,
        help=(
            "Seconds for an application's answer, counted from when the request can be sent (a "
            "kept-alive connection counts from at once). Above 0, at most 60."
        ),
    ),
    "DELIVERY_TASKS_PER_EVENT": _Setting(
        1,
        _positive_int,
        help=(
            "How many tasks (so worker pool processes) share one large fan-out (20 deliveries "
            "or more per task; decided when the fan-out is written, one claim and one message "
            "per task): set it to the workers' pool size when fan-outs are large, since "
            "preparing them is CPU-bound under the GIL. From 1 to 1000."
        ),
    ),
    "END_SESSION_ENDPOINT": _Setting(
        None,
        _optional_url,
        help=(
            "The IdP's logout endpoint. `None`: the `end_session_endpoint` of the discovery "
            "document of `OIDC_OP_ISSUER` (generic builder) or `<issuer>/oidc/logout` (Auth0 "
            "builder; `<issuer>/v2/logout` for the v2 builder). " + _HTTPS_URL
        ),
    ),
    "EVENT_RETENTION_DAYS": _Setting(
        90,
        _days,
        help=(
            "Days a finished logout event (`completed_at` set), with its deliveries, is kept "
            "before `logout_sso.purge` deletes it. Pending events are never purged, whatever "
            "their age. From 1 to 36500."
        ),
    ),
    "EXEMPT_PATHS": _Setting(
        [],
        _string_list,
        help=(
            "Paths the session re-check never touches: path prefixes (starting with `/`, e.g. "
            '`"/health/"`) or URL names. '
            "logout_sso's own login, callback, logout and back-channel logout views, "
            "`STATIC_URL` and `MEDIA_URL` are always exempt."
        ),
    ),
    "HUB_API_CREDENTIAL": _Setting(
        None,
        _optional_string,
        help=(
            "Client mode: this application's API credential at the hub (printed once when the "
            "hub registered the application or rotated its credential). Client mode is on when "
            "both `HUB_URL` and this are set."
        ),
    ),
    "HUB_ISSUER": _Setting(
        None,
        _optional_url,
        help=(
            "The hub's issuer URL, `iss` of the logout tokens it signs. Set it (with "
            "`HUB_SIGNING_KEY`) to make this project a hub. " + _HTTPS_URL
        ),
    ),
    "HUB_SIGNING_KEY": _Setting(
        None,
        _optional_pem,
        help=(
            "The hub's active private key, PEM (RSA: RS256, EC P-256: ES256). `None`: this "
            "project is not a hub, and sends no back-channel logouts."
        ),
    ),
    "HUB_SIGNING_KEYS_INACTIVE": _Setting(
        [],
        _pem_list,
        help=(
            "Private keys (PEM) whose public halves are still published at `/sso/jwks/`: the "
            "next key before it becomes active, the last one after."
        ),
    ),
    "HUB_URL": _Setting(
        None,
        _optional_url,
        help=(
            "Client mode: the hub's session API (`https://hub.example.com/sso/api/`). Client "
            "mode is on when both this and `HUB_API_CREDENTIAL` are set. " + _HTTPS_URL
        ),
    ),
    "LOGOUT_REPORTS_PER_MINUTE": _Setting(
        600,
        _limit,
        help=(
            "Logout reports one application may make through the session API per calendar "
            "minute; beyond it, `429` with `Retry-After` (the seconds to the next minute). "
            "From 1 to 100000000."
        ),
    ),
    "LOGOUT_TOKEN_CLOCK_SKEW": _Setting(
        60,
        _seconds,
        help=(
            "Seconds a logout token's `iat` may be ahead of this server's clock, and its `exp` "
            "behind it. From 0 to 86400."
        ),
    ),
    "LOGOUT_TOKEN_MAX_AGE": _Setting(
        300,
        _seconds,
        help=(
            "Seconds after its `iat` a logout token is still accepted. Its `iss` and `jti` are "
            "recorded with the logout it caused (`LogoutEvent.token_id`, kept "
            "`EVENT_RETENTION_DAYS`), so a replay is refused. From 0 to 86400."
        ),
    ),
    "LOGOUT_URL_BUILDER": _Setting(
        "logout_sso.rp.logout_urls.OIDCLogoutURLBuilder",
        _class_path,
        help=(
            "How the IdP's logout URL is built: `OIDCLogoutURLBuilder` (OpenID Connect "
            "RP-Initiated Logout 1.0), `Auth0LogoutURLBuilder` (Auth0's `/oidc/logout`, with "
            "`federated` when the policy says so) or `Auth0V2LogoutURLBuilder` (`/v2/logout`), "
            "all in `logout_sso.rp.logout_urls`; or your own subclass (dotted path)."
        ),
    ),
    "MAX_SESSIONS_PER_APPLICATION": _Setting(
        1_000_000,
        _limit,
        help=(
            "Live sessions the hub tracks for one application; a registration beyond it is "
            "answered `429` (`Retry-After: 60`). Counted in the database at most once a "
            "minute. From 1 to 100000000."
        ),
    ),
    "MAX_SESSIONS_PER_USER": _Setting(
        50,
        _limit,
        help=(
            "Live sessions of one user (issuer and `sub`) in one application; a registration "
            "beyond it is answered `429` (`Retry-After: 60`). It bounds one logout's fan-out: "
            "an application that requires a `sid` gets one token per session. "
            "From 1 to 100000000."
        ),
    ),
    "METRICS_ALLOWED_NETWORKS": _Setting(
        [],
        _networks,
        help=(
            "Networks (CIDR, e.g. `10.0.0.0/8`; an address alone is one host) whose clients may "
            "read the Prometheus metrics view (`logout_sso.metrics.MetricsView`) without "
            "signing in: your Prometheus servers. Matched against `REMOTE_ADDR`, never "
            "`X-Forwarded-For`. Active staff users may read it from anywhere; anyone else gets "
            "`403`. Empty: staff only."
        ),
    ),
    "ORGANIZATION_CLAIM": _Setting(
        "org_id",
        _non_empty_string,
        help=(
            "The ID token claim that names the user's organization at the IdP (Auth0 "
            "Organizations: `org_id`)."
        ),
    ),
    "ORGANIZATION_LOGOUT_BATCH_SIZE": _Setting(
        100,
        _positive_int,
        help=(
            "Users an organization-wide logout job logs out per batch (one transaction and "
            "one task each; their deliveries are queued before the next batch). Smaller "
            "batches let other logouts in sooner, on SQLite above all. From 1 to 1000."
        ),
    ),
    "ORGANIZATION_RESOLVER": _Setting(
        "logout_sso.rp.resolvers.OrganizationResolver",
        _class_path,
        help=(
            "The class that tells which organization a login is for. The default reads the "
            "`organization` query parameter (slug or IdP organization id), then the domain of "
            "`login_hint`/`email`, then the first label of the host name. Subclass it to do "
            "otherwise (dotted path)."
        ),
    ),
    "POLICY_SYNC_INTERVAL": _Setting(
        60,
        _whole_number(5, 24 * 60 * 60, "a number of seconds"),
        help=(
            "Client mode: seconds between two refreshes of the organizations and policies this "
            "application mirrors from the hub (`GET /sso/api/organizations/`), so a change made "
            "at the hub applies here within it. Run the task `logout_sso.sync_policies` this "
            "often with Celery beat. The mirror counts as stale (admin banner, system check "
            "`logout_sso.W005`) when the hub has not confirmed it for five times this long. "
            "From 5 to 86400."
        ),
    ),
    "POST_LOGOUT_REDIRECT_ALLOWLIST": _Setting(
        [],
        _url_list,
        help=(
            "Post-logout redirect URLs allowed for every organization, besides each "
            "organization's own list. Absolute `https` URLs (`http` only for loopback hosts), "
            "no user name, no fragment."
        ),
    ),
    "PUBLIC_URL": _Setting(
        None,
        _optional_origin,
        help=(
            "This project's public address as identity providers reach it, scheme, host and "
            "port only (`https://hub.example.com`): the absolute URLs of its inbound endpoints "
            "(the Shared Signals push endpoint given to a transmitter when a stream is created, "
            "`logout_sso_signals`; the `aud` a signal source's tokens must carry when the "
            "source names none) are it followed by the URL's path (`FORCE_SCRIPT_NAME` "
            "included). `None`: the admin, and the inbound endpoints, take the address the "
            "request came to; `logout_sso_signals` cannot create a push stream, and polled "
            "events need their source's audience. " + _HTTPS_URL
        ),
    ),
    "PURGE_BATCH_SIZE": _Setting(
        1000,
        _limit,
        help=(
            "Rows the purge deletes per statement, each batch its own short transaction, so no "
            "table is locked for long. From 1 to 100000000."
        ),
    ),
    "SESSION_RETENTION_DAYS": _Setting(
        30,
        _days,
        help=(
            "Days an ended tracked session (the hub's registry) is kept before "
            "`logout_sso.purge` deletes it. Live sessions are never purged. From 1 to 36500."
        ),
    ),
    "SIGNAL_MAX_AGE": _Setting(
        24 * 60 * 60,
        _seconds,
        help=(
            "Seconds after its `iat` a signal from an organization's identity provider (a "
            "Universal Logout request's JWT, a Shared Signals event) is still accepted; its "
            "`iat` may be `LOGOUT_TOKEN_CLOCK_SKEW` ahead. Each `jti` is recorded "
            "(`ReceivedSignal`, kept `EVENT_RETENTION_DAYS`), so a replay is refused. From 0 to "
            "86400."
        ),
    ),
    "SILENT_APPLICATION_DAYS": _Setting(
        7,
        _whole_number(1, 30, "a number of days"),
        help=(
            "Days after which the admin's logout health page lists an enabled application as "
            "silent: no session registered for the organization in that time (none since it was "
            "registered, for a new one), or logouts sent to it and none acknowledged. From 1 "
            "to 30 (the page counts over the last 30 days)."
        ),
    ),
    "TRACKED_SESSION_MAX_AGE": _Setting(
        14 * 24 * 60 * 60,
        _long_seconds,
        help=(
            "Seconds a tracked session lives at most (default: 14 days): one registered "
            "without `expires_at` expires then, a later `expires_at` is brought back to it. "
            "From 60 to 31622400 (60 s to 366 days)."
        ),
    ),
    "TRUSTED_ISSUERS": _Setting(
        [],
        _trusted_issuers,
        help=(
            "Issuers, beyond the project's own OpenID provider (`OIDC_OP_ISSUER`, audience "
            "`OIDC_RP_CLIENT_ID`, keys at `OIDC_OP_JWKS_ENDPOINT`), whose back-channel logout "
            "tokens are accepted: a list of objects with `issuer` (URL), `audience` (the client "
            "id the tokens must name; default `OIDC_RP_CLIENT_ID`), optional `jwks_uri` (else "
            "discovered from the issuer's `/.well-known/openid-configuration`), "
            'optional `algorithms` (default `["RS256"]`; asymmetric algorithms only: `none` '
            "and HMAC are never accepted) and optional `subject_issuer` (the issuer whose "
            "`sub`/`sid` its tokens name: a logout_sso hub relays the IdP's)."
        ),
    ),
}


class AppSettings:
    """Typed, validated access to ``settings.LOGOUT_SSO``; use the module's ``app_settings``."""

    def _user_settings(self) -> Mapping[str, Any]:
        value = getattr(settings, "LOGOUT_SSO", {})
        if not isinstance(value, Mapping):
            raise ImproperlyConfigured(f"LOGOUT_SSO must be a dict, not {type(value).__name__}.")
        unknown = sorted(map(repr, set(value) - set(SETTINGS)))
        if unknown:
            raise ImproperlyConfigured(
                f"LOGOUT_SSO has unknown key(s) {', '.join(unknown)}; "
                f"known keys: {', '.join(sorted(SETTINGS))}."
            )
        return value

    def _get(self, key: str) -> Any:
        user_settings = self._user_settings()
        setting = SETTINGS[key]
        return setting.parse(key, user_settings.get(key, setting.default))

    def validate(self) -> None:
        """Parse every key, raising ImproperlyConfigured on the first problem."""
        for key in SETTINGS:
            self._get(key)

    @property
    def CACHE_ALIAS(self) -> str:
        """The cache (a key of ``CACHES``) shared by every web process and Celery worker."""
        return str(self._get("CACHE_ALIAS"))

    @property
    def DELIVERY_ALLOW_PRIVATE_ADDRESSES(self) -> bool:
        """Whether back-channel logouts may go to loopback, private and link-local addresses."""
        return bool(self._get("DELIVERY_ALLOW_PRIVATE_ADDRESSES"))

    @property
    def DELIVERY_CA_BUNDLE(self) -> str | None:
        """The PEM file of the certificate authorities trusted for applications' HTTPS
        (``None``: certifi's bundle of public ones)."""
        path: str | None = self._get("DELIVERY_CA_BUNDLE")
        return path

    @property
    def DELIVERY_CONCURRENCY(self) -> int:
        """How many back-channel logouts one worker sends at once (pooled connections)."""
        return int(self._get("DELIVERY_CONCURRENCY"))

    @property
    def DELIVERY_CONNECT_TIMEOUT(self) -> float:
        """Seconds to connect to an application's back-channel logout URI."""
        return float(self._get("DELIVERY_CONNECT_TIMEOUT"))

    @property
    def DELIVERY_READ_TIMEOUT(self) -> float:
        """Seconds to wait for an application's answer once connected."""
        return float(self._get("DELIVERY_READ_TIMEOUT"))

    @property
    def HUB_API_CREDENTIAL(self) -> str | None:
        """This application's API credential at the hub (client mode)."""
        value: str | None = self._get("HUB_API_CREDENTIAL")
        return value

    @property
    def HUB_URL(self) -> str | None:
        """The hub's session API, e.g. ``https://hub.example.com/sso/api/`` (client mode)."""
        value: str | None = self._get("HUB_URL")
        return value

    @property
    def DELIVERY_TASKS_PER_EVENT(self) -> int:
        """How many worker processes share a large fan-out (set it to the pool's size)."""
        return int(self._get("DELIVERY_TASKS_PER_EVENT"))

    @property
    def HUB_ISSUER(self) -> str | None:
        """The hub's issuer identifier: ``iss`` of the logout tokens it signs."""
        value: str | None = self._get("HUB_ISSUER")
        return value

    @property
    def HUB_SIGNING_KEY(self) -> str | None:
        """The hub's active private key (PEM, RSA or EC P-256), which signs logout tokens."""
        value: str | None = self._get("HUB_SIGNING_KEY")
        return value

    @property
    def HUB_SIGNING_KEYS_INACTIVE(self) -> list[str]:
        """Former (or next) private keys whose public halves are still published."""
        return list(self._get("HUB_SIGNING_KEYS_INACTIVE"))

    @property
    def END_SESSION_ENDPOINT(self) -> str | None:
        """The IdP's logout endpoint; None: from the discovery document of ``OIDC_OP_ISSUER``."""
        value: str | None = self._get("END_SESSION_ENDPOINT")
        return value

    @property
    def EVENT_RETENTION_DAYS(self) -> int:
        """Days a finished logout event (with its deliveries) is kept before it is purged."""
        return int(self._get("EVENT_RETENTION_DAYS"))

    @property
    def EXEMPT_PATHS(self) -> list[str]:
        """Paths (prefixes starting with /) or URL names the session re-check never touches."""
        return list(self._get("EXEMPT_PATHS"))

    @property
    def LOGOUT_REPORTS_PER_MINUTE(self) -> int:
        """Logout reports one application may make per minute through the session API."""
        return int(self._get("LOGOUT_REPORTS_PER_MINUTE"))

    @property
    def LOGOUT_TOKEN_CLOCK_SKEW(self) -> int:
        """Seconds a logout token's ``iat`` may be ahead of, or its ``exp`` behind, our clock."""
        return int(self._get("LOGOUT_TOKEN_CLOCK_SKEW"))

    @property
    def LOGOUT_TOKEN_MAX_AGE(self) -> int:
        """Seconds after its ``iat`` a logout token is still accepted."""
        return int(self._get("LOGOUT_TOKEN_MAX_AGE"))

    @property
    def LOGOUT_URL_BUILDER(self) -> type:
        """The class that builds the IdP's logout URL (generic OpenID Connect or Auth0)."""
        value: type = self._get("LOGOUT_URL_BUILDER")
        return value

    @property
    def MAX_SESSIONS_PER_APPLICATION(self) -> int:
        """Live sessions the hub tracks for one application at most."""
        return int(self._get("MAX_SESSIONS_PER_APPLICATION"))

    @property
    def MAX_SESSIONS_PER_USER(self) -> int:
        """Live sessions of one user (issuer and sub) in one application at most."""
        return int(self._get("MAX_SESSIONS_PER_USER"))

    @property
    def METRICS_ALLOWED_NETWORKS(self) -> tuple[IPNetwork, ...]:
        """Networks whose clients may read the metrics view without signing in."""
        return tuple(self._get("METRICS_ALLOWED_NETWORKS"))

    @property
    def ORGANIZATION_CLAIM(self) -> str:
        """The ID token claim naming the user's organization at the IdP (Auth0: org_id)."""
        return str(self._get("ORGANIZATION_CLAIM"))

    @property
    def ORGANIZATION_LOGOUT_BATCH_SIZE(self) -> int:
        """Users an organization-wide logout job logs out per batch."""
        return int(self._get("ORGANIZATION_LOGOUT_BATCH_SIZE"))

    @property
    def ORGANIZATION_RESOLVER(self) -> type:
        """The class that tells which organization a login is for."""
        value: type = self._get("ORGANIZATION_RESOLVER")
        return value

    @property
    def POLICY_SYNC_INTERVAL(self) -> int:
        """Client mode: seconds between two refreshes of the policies mirrored from the hub."""
        return int(self._get("POLICY_SYNC_INTERVAL"))

    @property
    def POST_LOGOUT_REDIRECT_ALLOWLIST(self) -> list[str]:
        """Post-logout redirect URLs allowed for every organization."""
        return list(self._get("POST_LOGOUT_REDIRECT_ALLOWLIST"))

    @property
    def PUBLIC_URL(self) -> str | None:
        """This project's public origin (``https://hub.example.com``), or None."""
        value: str | None = self._get("PUBLIC_URL")
        return value

    @property
    def PURGE_BATCH_SIZE(self) -> int:
        """Rows the purge deletes per statement (each batch its own short transaction)."""
        return int(self._get("PURGE_BATCH_SIZE"))

    @property
    def SESSION_RETENTION_DAYS(self) -> int:
        """Days an ended tracked session is kept before it is purged."""
        return int(self._get("SESSION_RETENTION_DAYS"))

    @property
    def SIGNAL_MAX_AGE(self) -> int:
        """Seconds after its ``iat`` an inbound signal (Universal Logout, Shared Signals) is
        still accepted."""
        return int(self._get("SIGNAL_MAX_AGE"))

    @property
    def SILENT_APPLICATION_DAYS(self) -> int:
        """Days without a session or an acknowledged logout before an application is silent."""
        return int(self._get("SILENT_APPLICATION_DAYS"))

    @property
    def TRACKED_SESSION_MAX_AGE(self) -> int:
        """Seconds a tracked session lives at most (registered without expires_at, or later)."""
        return int(self._get("TRACKED_SESSION_MAX_AGE"))

    @property
    def TRUSTED_ISSUERS(self) -> list[TrustedIssuer]:
        """Issuers, beyond the project's own OpenID provider, trusted for back-channel logout."""
        return list(self._get("TRUSTED_ISSUERS"))


app_settings = AppSettings()
