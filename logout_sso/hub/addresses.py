"""Where the hub may send: no SSRF through an admin-entered back-channel logout URI.

At send time the host name is resolved, and every address it resolves to must be a public one:
not loopback, private, link-local (cloud metadata), multicast or reserved, unless
``LOGOUT_SSO["DELIVERY_ALLOW_PRIVATE_ADDRESSES"]`` (development, tests).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from logout_sso.conf import app_settings


class BlockedDestination(Exception):
    """The URI resolves to an address the hub must not send to."""


class UnresolvedDestination(Exception):
    """The URI's host name does not resolve, for now: worth another attempt."""


def check_destination(url: str) -> None:
    if app_settings.DELIVERY_ALLOW_PRIVATE_ADDRESSES:
        return  # Nothing to check: the connection resolves the name itself.
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnresolvedDestination(f"{host} does not resolve: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise BlockedDestination(
                f"{host} resolves to {address}, which is not a public address "
                '(LOGOUT_SSO["DELIVERY_ALLOW_PRIVATE_ADDRESSES"] allows it).'
            )
