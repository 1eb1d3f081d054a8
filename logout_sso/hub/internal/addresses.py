"""Where the hub may send: no SSRF through an admin-entered back-channel logout URI.

Every address the hub is about to connect to must be a public one, unless
``LOGOUT_SSO["DELIVERY_ALLOW_PRIVATE_ADDRESSES"]`` (development, tests). The transport asks
just before it opens each connection, about the very address it will connect to, so a name that
resolves to another address a moment later (DNS rebinding) gains nothing.

Public is decided here from the tables below, not from ``ipaddress``'s ``is_global`` (which
lets through multicast, 192.0.0.8, fec0::/10, ::127.0.0.1 or 64:ff9b::10.0.0.1 on Python
3.11, and changed between 3.11 and 3.13): the same answer on every supported Python.

- An IPv4 address is public unless it is in ``_IPV4_REFUSED``.
- An IPv6 address in ``_IPV6_REFUSED`` is refused. One that stands for an IPv4 address
  (IPv4-mapped ``::ffff:0:0/96``, NAT64's well-known prefix ``64:ff9b::/96``) is public when that
  IPv4 address is. A 6to4 address (``2002::/16``) is public when the IPv4 address it embeds is.
  Any other IPv6 address must be global unicast (``2000::/3``): the rest of the space is
  reserved by the IETF (IANA IPv6 Address Space registry).

Not detected: a NAT64 translator on a network-specific prefix (RFC 6052), or an ISATAP router,
of the hub's own network, which would carry an ordinary-looking global IPv6 address to an IPv4
one behind it; where the hub has one, it must not reach internal addresses through it.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import TypeAlias

logger = logging.getLogger(__name__)

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
_Table: TypeAlias = tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...]


def _table(rows: Iterable[tuple[str, str]]) -> _Table:
    """``(network, name)`` rows, the networks parsed."""
    return tuple((ipaddress.ip_network(network), name) for network, name in rows)


#: Never connected to: the blocks of the IANA IPv4 Special-Purpose Address Registry
#: (https://www.iana.org/assignments/iana-ipv4-special-registry/, RFC 6890) that are not
#: globally reachable, multicast (IANA IPv4 Multicast Address Space registry) and the deprecated
#: 6to4 relay anycast block. 192.0.0.0/24 is refused whole: its only globally reachable entries
#: (192.0.0.9, 192.0.0.10) are PCP and TURN anycast addresses, never a logout endpoint.
_IPV4_REFUSED = _table(
    [
        ("0.0.0.0/8", '"this network" (RFC 791)'),
        ("10.0.0.0/8", "private-use (RFC 1918)"),
        ("100.64.0.0/10", "shared address space, carrier-grade NAT (RFC 6598)"),
        ("127.0.0.0/8", "loopback (RFC 1122)"),
        ("169.254.0.0/16", "link-local, cloud metadata (RFC 3927)"),
        ("172.16.0.0/12", "private-use (RFC 1918)"),
        ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
        ("192.0.2.0/24", "documentation, TEST-NET-1 (RFC 5737)"),
        ("192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)"),
        ("192.168.0.0/16", "private-use (RFC 1918)"),
        ("198.18.0.0/15", "benchmarking (RFC 2544)"),
        ("198.51.100.0/24", "documentation, TEST-NET-2 (RFC 5737)"),
        ("203.0.113.0/24", "documentation, TEST-NET-3 (RFC 5737)"),
        ("224.0.0.0/4", "multicast (RFC 5771)"),
        ("240.0.0.0/4", "reserved (RFC 1112)"),
        ("255.255.255.255/32", "limited broadcast (RFC 919)"),
    ],
)

#: Never connected to: the blocks of the IANA IPv6 Special-Purpose Address Registry
#: (https://www.iana.org/assignments/iana-ipv6-special-registry/, RFC 6890) that are not
#: globally reachable, and the deprecated or non-unicast blocks of the IANA IPv6 Address Space
#: registry. 2001::/23 is refused whole, Teredo (2001::/32) included: its globally reachable
#: entries are anycast and overlay identifiers (PCP, TURN, DNS-SD, AMT, AS112, ORCHIDv2, DRIP),
#: never a logout endpoint, and a Teredo address is a NATed client's.
_IPV6_REFUSED = _table(
    [
        ("::/128", "unspecified (RFC 4291)"),
        ("::1/128", "loopback (RFC 4291)"),
        ("::/96", "deprecated IPv4-compatible (RFC 4291)"),
        ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation (RFC 8215)"),
        ("100::/64", "discard-only (RFC 6666)"),
        ("100:0:0:1::/64", "dummy prefix (RFC 9780)"),
        ("2001::/23", "IETF protocol assignments, Teredo included (RFC 2928, RFC 4380)"),
        ("2001:db8::/32", "documentation (RFC 3849)"),
        ("3fff::/20", "documentation (RFC 9637)"),
        ("5f00::/16", "segment routing SIDs (RFC 9602)"),
        ("fc00::/7", "unique local (RFC 4193)"),
        ("fe80::/10", "link-local (RFC 4291)"),
        ("fec0::/10", "deprecated site-local (RFC 3879)"),
        ("ff00::/8", "multicast (RFC 4291)"),
    ],
)

#: IPv6 addresses that stand for the IPv4 address in their last 32 bits.
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a packet to ``address`` ends up at: IPv4-mapped ``::ffff:a.b.c.d``,
    NAT64 ``64:ff9b::a.b.c.d`` (RFC 6052), 6to4 ``2002:AABB:CCDD::/48`` (RFC 3056); or None.

    The deprecated IPv4-compatible ``::a.b.c.d``, local-use NAT64 (64:ff9b:1::/48, where the
    IPv4 address sits depends on the local translator's prefix length) and Teredo are in
    ``_IPV6_REFUSED``: refused whatever they embed."""
    if address in _IPV4_MAPPED or address in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _listed(address: Address, table: _Table) -> str | None:
    """The name and network of the first of ``table``'s networks ``address`` is in, or None."""
    return next((f"{name}, {net}" for net, name in table if address in net), None)


def not_public(address: Address) -> str | None:
    """Why ``address`` is not a public address (its range, for the log), or None if it is."""
    if isinstance(address, ipaddress.IPv4Address):
        return _listed(address, _IPV4_REFUSED)
    listed = _listed(address, _IPV6_REFUSED)
    if listed is not None:
        return listed
    ipv4 = embedded_ipv4(address)
    if ipv4 is not None:
        reason = not_public(ipv4)
        if reason is not None:
            return f"embeds {ipv4}: {reason}"
        if address in _IPV4_MAPPED or address in _NAT64_WELL_KNOWN:
            return None  # The public IPv4 address it stands for (outside 2000::/3).
    if address not in _GLOBAL_UNICAST:
        return f"reserved by the IETF, not global unicast {_GLOBAL_UNICAST}"
    return None


def refusal(
    host: str, address: str, *, allow_private: bool, purpose: str = "Back-channel logout"
) -> str | None:
    """Why the hub must not connect to ``address`` (which ``host`` resolved to), or None;
    ``purpose`` names the connection in the log.

    The reason, shown to the organization's admins, does not say what ``host`` resolved to
    (that would map the internal DNS for them); the address and its range are logged at INFO
    for the operators."""
    if allow_private:
        return None
    try:
        reason = not_public(ipaddress.ip_address(address))
    except ValueError:  # Not an IP address: libcurl gave something else; never connect to it.
        reason = "not an IP address"
    if reason is None:
        return None
    logger.info("%s to host %r refused: it resolved to %r, %s.", purpose, host, address, reason)
    return (
        f"{host} does not resolve to a public address "
        '(LOGOUT_SSO["DELIVERY_ALLOW_PRIVATE_ADDRESSES"] allows it).'
    )
