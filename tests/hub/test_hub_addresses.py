"""The hub's SSRF guard, ``refusal()``, on addresses alone: pure function calls, no network.

Every range of the IANA IPv4 and IPv6 Special-Purpose Address Registries that is not globally
reachable is refused, whatever Python's ``is_global`` says on the running version, and so is an
IPv6 address that carries a packet to a non-public IPv4 one (IPv4-mapped, IPv4-compatible,
NAT64, 6to4, Teredo); public addresses, and IPv6 forms of public IPv4 ones, pass.
"""

from __future__ import annotations

import ipaddress
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logout_sso.hub.internal.addresses import embedded_ipv4, not_public, refusal

MESSAGE = (
    "app.example does not resolve to a public address "
    '(LOGOUT_SSO["DELIVERY_ALLOW_PRIVATE_ADDRESSES"] allows it).'
)

REFUSED_IPV4 = [
    "0.0.0.0",  # noqa: S104 (an address refused, not one bound to)
    "0.1.2.3",
    "10.0.0.1",
    "100.64.0.1",
    "100.127.255.254",
    "127.0.0.1",
    "127.255.255.254",
    "169.254.169.254",
    "172.16.0.1",
    "172.31.255.254",
    "192.0.0.1",
    "192.0.0.8",
    "192.0.0.9",
    "192.0.0.170",
    "192.0.2.1",
    "192.88.99.1",
    "192.168.1.1",
    "198.18.0.1",
    "198.19.255.254",
    "198.51.100.1",
    "203.0.113.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
]

REFUSED_IPV6 = [
    "::",
    "::1",
    "fe80::1",
    "fe80::1%eth0",
    "fc00::1",
    "fd12:3456:789a::1",
    "fec0::1",
    "feff:ffff::1",
    "ff02::1",
    "ff0e::101",
    "100::1",
    "100:0:0:1::1",
    "2001:db8::1",
    "2001:10::1",
    "2001:2::1",
    "2001:20::1",
    "3fff::1",
    "3fff:fff::1",
    "5f00::1",
    # Reserved by the IETF, outside global unicast 2000::/3.
    "400::1",
    "4000::1",
    "e000::1",
]

#: IPv6 addresses that carry a packet to a non-public IPv4 one.
REFUSED_EMBEDDING = [
    # IPv4-compatible (deprecated ::/96), whatever it embeds.
    "::127.0.0.1",
    "::10.0.0.1",
    "::93.184.215.14",
    # IPv4-mapped.
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:192.0.0.8",
    "::ffff:224.0.0.1",
    # NAT64, well-known prefix (RFC 6052).
    "64:ff9b::a00:1",
    "64:ff9b::127.0.0.1",
    "64:ff9b::169.254.169.254",
    "64:ff9b::100.64.0.1",
    # NAT64, local-use prefix (RFC 8215), whatever it embeds.
    "64:ff9b:1::a00:1",
    "64:ff9b:1::5db8:d70e",
    "64:ff9b:1:ab00::a00:1",
    # 6to4: the IPv4 address in bits 16 to 48.
    "2002:a00:1::1",
    "2002:7f00:1::1",
    "2002:a9fe:a9fe::1",
    "2002:c000:8::1",
    "2002::1",
    # Teredo (2001::/32), whatever its server and (inverted) client addresses: here a public
    # server and client 10.0.0.1, then both public.
    "2001:0:5db8:d70e::f5ff:fffe",
    "2001:0:4136:e378:8000:63bf:a247:28f1",
]

PUBLIC = [
    "93.184.215.14",
    "1.1.1.1",
    "8.8.8.8",
    "100.63.255.255",
    "100.128.0.1",
    "172.32.0.1",
    "192.0.1.1",
    "192.169.0.1",
    "198.20.0.1",
    "223.255.255.254",
    "2606:4700::1111",
    "2a00:1450:4007:80e::200e",
    "2001:4860:4860::8888",
    "2001:200::1",  # Outside 2001::/23.
    "2620:4f:8000::1",  # AS112, globally reachable.
    "3fff:1000::1",  # Just past 3fff::/20.
    # 6to4, NAT64 (well-known prefix) and IPv4-mapped forms of a public IPv4 address.
    "2002:5db8:d70e::1",
    "64:ff9b::5db8:d70e",
    "64:ff9b::8.8.8.8",
    "::ffff:93.184.215.14",
]


@pytest.mark.parametrize("address", REFUSED_IPV4)
def test_special_purpose_ipv4_addresses_are_refused(address):
    assert refusal("app.example", address, allow_private=False) == MESSAGE


@pytest.mark.parametrize("address", REFUSED_IPV6)
def test_special_purpose_and_reserved_ipv6_addresses_are_refused(address):
    assert refusal("app.example", address, allow_private=False) == MESSAGE


@pytest.mark.parametrize("address", REFUSED_EMBEDDING)
def test_ipv6_addresses_reaching_a_non_public_ipv4_are_refused(address):
    assert refusal("app.example", address, allow_private=False) == MESSAGE


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert refusal("app.example", address, allow_private=False) is None


@pytest.mark.parametrize("address", REFUSED_IPV4 + REFUSED_IPV6 + REFUSED_EMBEDDING)
def test_the_setting_allows_every_address(address):
    assert refusal("app.example", address, allow_private=True) is None


def test_something_that_is_not_an_ip_address_is_refused():
    assert refusal("app.example", "app.example", allow_private=False) == MESSAGE


@pytest.mark.parametrize(
    "address", ["10.1.2.3", "::ffff:10.1.2.3", "64:ff9b::a01:203", "2002:a01:203::1", "fd00::7"]
)
def test_the_message_does_not_tell_what_the_name_resolved_to(address):
    """An organization admin reads it: it must not map the internal DNS for them."""
    message = refusal("app.example", address, allow_private=False)

    assert message is not None
    assert address not in message
    assert "10.1.2.3" not in message
    assert not any(character.isdigit() for character in message)


def test_the_refused_address_is_logged_for_operators(caplog):
    with caplog.at_level(logging.INFO, logger="logout_sso.hub.internal.addresses"):
        refusal("app.example", "64:ff9b::a00:1", allow_private=False)

    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert "'app.example'" in record.getMessage()
    assert "'64:ff9b::a00:1'" in record.getMessage()
    assert "embeds 10.0.0.1: private-use (RFC 1918), 10.0.0.0/8" in record.getMessage()


def test_nothing_is_logged_for_a_public_address(caplog):
    with caplog.at_level(logging.DEBUG, logger="logout_sso.hub.internal.addresses"):
        assert refusal("app.example", "93.184.215.14", allow_private=False) is None

    assert caplog.records == []


def test_no_control_character_of_the_host_reaches_the_log(caplog):
    host = "evil.example\r\nINFO forged line\x1b[31m"
    with caplog.at_level(logging.INFO, logger="logout_sso.hub.internal.addresses"):
        refusal(host, "127.0.0.1", allow_private=False)

    [record] = caplog.records
    logged = record.getMessage()
    assert not any(ord(character) < 0x20 or ord(character) == 0x7F for character in logged)
    assert repr(host) in logged


def test_the_embedded_ipv4_address():
    def embedded(address: str) -> str | None:
        ipv4 = embedded_ipv4(ipaddress.IPv6Address(address))
        return None if ipv4 is None else str(ipv4)

    assert embedded("::ffff:10.0.0.1") == "10.0.0.1"
    assert embedded("64:ff9b::a00:1") == "10.0.0.1"
    assert embedded("2002:5db8:d70e::1") == "93.184.215.14"
    assert embedded("2606:4700::1111") is None
    # Refused whatever they embed (listed), so not looked into.
    assert embedded("::10.0.0.1") is None
    assert embedded("64:ff9b:1::a00:1") is None


@given(st.ip_addresses(v=4))
def test_ipv6_forms_of_an_ipv4_address_are_judged_as_that_address(ipv4):
    """IPv4-mapped, NAT64 (well-known prefix) and 6to4 forms pass exactly when the IPv4 address
    they carry to does."""
    value = int(ipv4)
    public = not_public(ipv4) is None
    for form in (
        0xFFFF << 32 | value,
        0x64FF9B << 96 | value,
        0x2002 << 112 | value << 80 | 1,
    ):
        assert (not_public(ipaddress.IPv6Address(form)) is None) == public
