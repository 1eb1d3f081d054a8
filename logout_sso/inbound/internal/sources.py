"""Which of an organization's sources sent a token, and where that source's keys are.

A Universal Logout source names its JWKS. A Shared Signals transmitter names it too, or else
its configuration does (``configuration_url``, or the one its issuer publishes at the path
Shared Signals Framework 1.0 section 7.2 gives: ``/.well-known/ssf-configuration`` inserted
between the issuer's host and its path). That document is fetched and cached as discovery
documents are (:mod:`logout_sso.internal.discovery`); its ``issuer`` must be the source's.

These URLs are typed by an organization's admins, a tenant: before each fetch, every address
their host resolves to must be public (:func:`public_only`, the hub's rule for applications'
URLs), unless ``DELIVERY_ALLOW_PRIVATE_ADDRESSES``. Not covered: a name that resolves to another
address between the check and the connection (DNS rebinding); the answer must still be a JWKS
or a transmitter configuration, and what a failed fetch says is only logged.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.urls import reverse

from logout_sso.conf import app_settings
from logout_sso.hub.internal.addresses import refusal
from logout_sso.internal.discovery import ProviderError, json_document
from logout_sso.models import SignalSource
from logout_sso.models.signal_sources import SignalKind

#: The URL name of each kind's endpoint (what a source's tokens are addressed to by default).
ENDPOINTS = {
    SignalKind.UNIVERSAL_LOGOUT: "logout_sso:global_token_revocation",
    SignalKind.SHARED_SIGNALS: "logout_sso:ssf_events",
}


def enabled_sources(organization_slug: str, kind: SignalKind) -> Sequence[SignalSource]:
    """The enabled sources of that kind of the organization with that slug (none for a slug
    nobody has: the caller answers as for an untrusted issuer)."""
    return list(
        SignalSource.objects.select_related("organization").filter(
            organization__slug=organization_slug, kind=kind, enabled=True
        )
    )


def endpoint_url(source: SignalSource, base: str | None = None) -> str:
    """The absolute URL of the source's endpoint at this project: under ``base`` (the origin a
    request came to), else under ``HUB_ISSUER``'s origin."""
    path = reverse(ENDPOINTS[SignalKind(source.kind)], args=[source.organization.slug])
    if base is None:
        issuer = urlsplit(app_settings.HUB_ISSUER or "")
        base = urlunsplit((issuer.scheme, issuer.netloc, "", "", ""))
    return base.rstrip("/") + path


def audience(source: SignalSource, base: str | None = None) -> str:
    """The ``aud`` the source's tokens must carry: its ``audience``, else its endpoint's URL."""
    return str(source.audience) or endpoint_url(source, base)


def public_only(url: str) -> None:
    """Raise ProviderError unless every address ``url``'s host resolves to is public (or
    ``DELIVERY_ALLOW_PRIVATE_ADDRESSES``)."""
    if app_settings.DELIVERY_ALLOW_PRIVATE_ADDRESSES:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        found = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        raise ProviderError(f"Cannot resolve {host!r}: {exc}") from exc
    for *_, address in found:
        reason = refusal(host, str(address[0]), allow_private=False)
        if reason is not None:
            raise ProviderError(reason)


def configuration_url(source: SignalSource) -> str:
    """Where the transmitter's configuration document is."""
    if source.configuration_url:
        return str(source.configuration_url)
    issuer = urlsplit(source.issuer)
    path = "/.well-known/ssf-configuration" + issuer.path.rstrip("/")
    return urlunsplit((issuer.scheme, issuer.netloc, path, "", ""))


def transmitter_configuration(source: SignalSource) -> dict[str, Any]:
    """The transmitter's configuration document, whose ``issuer`` must be the source's."""

    def validate(document: dict[str, Any]) -> None:
        if document.get("issuer") != source.issuer:
            raise ProviderError(
                f"The transmitter configuration names the issuer {document.get('issuer')!r}, "
                f"not {source.issuer!r}."
            )
        if not isinstance(document.get("jwks_uri"), str):
            raise ProviderError("The transmitter configuration has no jwks_uri.")

    return json_document(configuration_url(source), validate, public_only)


def jwks_uri(source: SignalSource) -> str:
    """Where the source's signing keys are published."""
    if source.jwks_uri:
        return str(source.jwks_uri)
    uri: str = transmitter_configuration(source)["jwks_uri"]
    return uri
