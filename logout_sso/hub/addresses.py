"""Where the hub may send: no SSRF through an admin-entered back-channel logout URI.

Every address the hub is about to connect to must be a public one: not loopback, private,
link-local (cloud metadata), multicast or reserved, unless
``LOGOUT_SSO["DELIVERY_ALLOW_PRIVATE_ADDRESSES"]`` (development, tests). The transport asks
just before it opens each connection, about the very address it will connect to, so a name that
resolves to another address a moment later (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress


def refusal(host: str, address: str, *, allow_private: bool) -> str | None:
    """Why the hub must not connect to ``address`` (which ``host`` resolved to), or None."""
    if allow_private or ipaddress.ip_address(address).is_global:
        return None
    return (
        f"{host} resolves to {address}, which is not a public address "
        '(LOGOUT_SSO["DELIVERY_ALLOW_PRIVATE_ADDRESSES"] allows it).'
    )
