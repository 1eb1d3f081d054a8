"""Which of an organization's sources sent a token, where that source's keys are, and the
audience its tokens must carry.

A Universal Logout source names its JWKS. A Shared Signals transmitter names it too, or else
its configuration does (:func:`logout_sso.inbound.internal.transmitter.configuration`: its
``configuration_url`` or its issuer's well-known URL, validated, cached). The JWKS is fetched
and cached as discovery documents are (:mod:`logout_sso.internal.discovery`).

These URLs are typed by an organization's admins, a tenant: before each fetch of a JWKS, every
address its host resolves to must be public (:func:`public_only`, the hub's rule for
applications' URLs), unless ``DELIVERY_ALLOW_PRIVATE_ADDRESSES`` (the configuration is fetched
through libcurl, checked on the very address it connects to). Not covered for the JWKS: a name
that resolves to another address between the check and the connection (DNS rebinding); the
answer must still be a JWKS, and what a failed fetch says is only logged.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from django.http import HttpRequest
from django.urls import reverse

from logout_sso.conf import app_settings
from logout_sso.hub.internal.addresses import refusal
from logout_sso.inbound.internal import transmitter
from logout_sso.inbound.internal.endpoints import absolute_url
from logout_sso.internal.discovery import ProviderError
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


def audience(source: SignalSource, request: HttpRequest | None = None) -> str:
    """The ``aud`` the source's tokens must carry: its ``audience``, else its endpoint's URL at
    ``PUBLIC_URL`` (else at the address ``request`` came to). Raises
    :class:`~logout_sso.inbound.internal.endpoints.NoPublicURL` without either."""
    if source.audience:
        return str(source.audience)
    path = reverse(ENDPOINTS[SignalKind(source.kind)], args=[source.organization.slug])
    return absolute_url(path, request)


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


def jwks_uri(source: SignalSource) -> str:
    """Where the source's signing keys are published."""
    if source.jwks_uri:
        return str(source.jwks_uri)
    try:
        uri = transmitter.configuration(source).jwks_uri
    except transmitter.TransmitterError as exc:
        raise ProviderError(str(exc)) from exc
    if not uri:
        raise ProviderError("The transmitter's configuration names no jwks_uri.")
    return uri
