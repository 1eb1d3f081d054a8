"""A Shared Signals transmitter as its receiver sees it (OpenID Shared Signals Framework 1.0):
its configuration metadata (section 7), and requests to its stream management API (section 8)
authorized by the source's management credential.

Whatever a transmitter answers reaches the admin or a log only escaped and cut
(:func:`~logout_sso.internal.untrusted.printable`), with the management credential removed from
it should the transmitter have echoed it.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.core.cache import caches
from django.core.exceptions import ValidationError

from logout_sso.conf import app_settings
from logout_sso.inbound.internal.guarded_http import Answer, RequestFailed, send
from logout_sso.internal.secret_box import SecretUnreadable
from logout_sso.internal.untrusted import printable
from logout_sso.internal.validators import validate_secure_url
from logout_sso.models import SignalSource

__all__ = [
    "TransmitterConfiguration",
    "TransmitterError",
    "configuration",
    "configuration_url",
    "json_object",
    "request",
]

#: How long a transmitter's configuration is reused: briefly, so that a change at the
#: transmitter is seen soon, while a page of the admin or a burst of events costs one fetch.
CONFIGURATION_CACHE_SECONDS = 5 * 60
#: The most of a transmitter's text quoted in a message.
QUOTED_CHARACTERS = 300
WELL_KNOWN = "/.well-known/ssf-configuration"
ENDPOINTS = ("configuration_endpoint", "status_endpoint", "verification_endpoint")


class TransmitterError(Exception):
    """The transmitter could not be reached, refused, or answered what it must not: the message
    says which, in one line, ready to show; ``status`` is the HTTP status of a refusal."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TransmitterConfiguration:
    """What this project uses of a transmitter's configuration metadata."""

    issuer: str
    jwks_uri: str
    delivery_methods_supported: tuple[str, ...]
    configuration_endpoint: str
    status_endpoint: str
    verification_endpoint: str

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "delivery_methods_supported": list(self.delivery_methods_supported)}


def quoted(text: str, source: SignalSource) -> str:
    """Text a transmitter sent, safe to show: escaped, cut, without the management credential."""
    try:
        token = source.management_token
    except SecretUnreadable:
        token = ""
    if token:
        text = text.replace(token, "[credential]")
    return printable(text, limit=QUOTED_CHARACTERS)


def configuration_url(source: SignalSource) -> str:
    """The source's ``configuration_url``; else where SSF 1.0 (section 7.2) puts the
    configuration of its issuer: ``/.well-known/ssf-configuration`` inserted between the host
    and the path (without its trailing ``/``)."""
    if source.configuration_url:
        return str(source.configuration_url)
    try:
        validate_secure_url(source.issuer)
    except ValidationError as exc:
        raise TransmitterError(
            f"The issuer {source.issuer!r} is not an https URL: {' '.join(exc.messages)}"
        ) from exc
    parts = urlsplit(source.issuer)
    if parts.query:
        raise TransmitterError(f"The issuer {source.issuer!r} has a query: it must not.")
    path = WELL_KNOWN + parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _cache_key(url: str, issuer: str) -> str:
    digest = hashlib.sha256(f"{url}\n{issuer}".encode()).hexdigest()
    return f"logout_sso:ssf-configuration:v1:{digest}"


def configuration(source: SignalSource, *, refresh: bool = False) -> TransmitterConfiguration:
    """The transmitter's validated configuration, from the shared cache unless ``refresh``."""
    url = configuration_url(source)
    cache = caches[app_settings.CACHE_ALIAS]
    key = _cache_key(url, source.issuer)
    cached: dict[str, Any] | None = None if refresh else cache.get(key)
    if cached is not None:
        return TransmitterConfiguration(
            **{**cached, "delivery_methods_supported": tuple(cached["delivery_methods_supported"])}
        )
    answer = request(source, "GET", url, operation="Fetching the configuration", authorized=False)
    document = json_object(answer, source, url, "Fetching the configuration")
    found = _validated(document, source, url)
    cache.set(key, found.as_dict(), CONFIGURATION_CACHE_SECONDS)
    return found


def _validated(
    document: dict[str, Any], source: SignalSource, url: str
) -> TransmitterConfiguration:
    issuer = document.get("issuer")
    if issuer != source.issuer:
        shown = quoted(str(issuer), source) if isinstance(issuer, str) else repr(issuer)
        raise TransmitterError(
            f"The configuration at {url} names the issuer {shown}, not the source's "
            f"{source.issuer}: they must be identical."
        )
    found: dict[str, str] = {}
    for name in ("jwks_uri", *ENDPOINTS):
        value = document.get(name, "")
        if value == "":
            found[name] = ""
            continue
        try:
            if not isinstance(value, str):
                raise ValidationError("not a string")
            validate_secure_url(value)
        except ValidationError as exc:
            raise TransmitterError(
                f"The configuration at {url} has an invalid {name}: {' '.join(exc.messages)}"
            ) from exc
        found[name] = value
    methods = document.get("delivery_methods_supported", [])
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        raise TransmitterError(
            f"The configuration at {url} has an invalid delivery_methods_supported."
        )
    return TransmitterConfiguration(
        issuer=source.issuer,
        delivery_methods_supported=tuple(quoted(method, source) for method in methods),
        **found,
    )


def request(
    source: SignalSource,
    method: str,
    url: str,
    *,
    operation: str,
    payload: dict[str, Any] | None = None,
    authorized: bool = True,
) -> Answer:
    """``method`` ``url`` at the transmitter, with the source's management credential when
    ``authorized``: a 2xx answer, else :class:`TransmitterError` saying that ``operation``
    failed and what the transmitter said."""
    try:
        token = source.management_token if authorized else ""
    except SecretUnreadable as exc:
        raise TransmitterError(f"{operation} failed: {exc}") from None
    try:
        answer = send(method, url, bearer=token, payload=payload)
    except RequestFailed as exc:
        raise TransmitterError(f"{operation} failed: {quoted(str(exc), source)}") from None
    if 200 <= answer.status < 300:
        return answer
    raise TransmitterError(f"{operation} failed: {_refusal(answer, source, url)}", answer.status)


def _refusal(answer: Answer, source: SignalSource, url: str) -> str:
    """The status of a refusal, its phrase, and the transmitter's own explanation."""
    try:
        phrase = HTTPStatus(answer.status).phrase
    except ValueError:
        phrase = ""
    said = f"{url} answered {answer.status} {phrase}".rstrip()
    explanation = _explanation(answer)
    if explanation:
        said += f": {quoted(explanation, source)}"
    if answer.status == HTTPStatus.UNAUTHORIZED and not source.has_management_token:
        said += " (the source has no management credential)"
    return said


def _explanation(answer: Answer) -> str:
    """The error and its description from a JSON answer (OAuth's ``error`` and
    ``error_description``, RFC 8935's ``err`` and ``description``, or ``message``), else the
    start of a text answer."""
    try:
        document = answer.json()
    except ValueError:
        return answer.body.decode("utf-8", "replace").strip()
    if not isinstance(document, dict):
        return ""
    parts = [
        document[name]
        for name in ("error", "err", "error_description", "description", "message")
        if isinstance(document.get(name), str) and document[name]
    ]
    return ": ".join(parts)


def json_object(answer: Answer, source: SignalSource, url: str, operation: str) -> dict[str, Any]:
    """The answer's body as a JSON object, or :class:`TransmitterError` saying that
    ``operation`` failed."""
    try:
        document = answer.json()
    except ValueError:
        excerpt = quoted(answer.body.decode("utf-8", "replace").strip(), source)
        raise TransmitterError(
            f"{operation} failed: {url} did not answer JSON: {excerpt}", answer.status
        ) from None
    if not isinstance(document, dict):
        raise TransmitterError(
            f"{operation} failed: {url} did not answer a JSON object.", answer.status
        )
    return document
