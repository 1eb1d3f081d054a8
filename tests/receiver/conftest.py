"""Fixtures of the back-channel logout receiver's tests: an IdP's key server on loopback
(``tests/receiver_keys.py``), and its issuer trusted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.receiver_keys import ALL_ALGORITHMS, AUDIENCE, MAX_AGE, SKEW, KeyServer


@pytest.fixture
def server() -> Iterator[KeyServer]:
    """An IdP's JWKS and discovery document on loopback; stopped after the test."""
    server = KeyServer()
    yield server
    server.stop()


@pytest.fixture
def trust(settings: Any, server: KeyServer) -> Callable[..., None]:
    """Trust the key server's issuer (with these algorithms, its keys at its ``jwks_uri`` or
    found by discovery); called again, it configures anew."""

    def configure(*, algorithms: tuple[str, ...] = ALL_ALGORITHMS, jwks_uri: bool = True) -> None:
        issuer: dict[str, Any] = {
            "issuer": server.issuer,
            "audience": AUDIENCE,
            "algorithms": list(algorithms),
        }
        if jwks_uri:
            issuer["jwks_uri"] = server.jwks_url
        settings.LOGOUT_SSO = {
            "TRUSTED_ISSUERS": [issuer],
            "LOGOUT_TOKEN_CLOCK_SKEW": SKEW,
            "LOGOUT_TOKEN_MAX_AGE": MAX_AGE,
        }

    configure()
    return configure
