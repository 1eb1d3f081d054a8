"""The hub's issuer metadata, as receivers discover it from its issuer identifier.

A document in the style of OpenID Connect Discovery 1.0 (section 3) and RFC 8414, served at
``<HUB_ISSUER without its trailing />/.well-known/openid-configuration``: the hub is no OpenID
provider (it signs no ID tokens, has no authorization endpoint), so it states only what is true
of it, the members a receiver of back-channel logouts needs:

- ``issuer``: ``HUB_ISSUER``, exactly as in the ``iss`` of its logout tokens;
- ``jwks_uri``: its public keys, at the origin of ``HUB_ISSUER`` (so a ``Host`` header cannot
  change it) and the path this project routes the JWKS at;
- ``backchannel_logout_supported`` and ``backchannel_logout_session_supported`` (OpenID Connect
  Back-Channel Logout 1.0, section 2.1): it sends logout tokens, with a ``sid`` when it knows
  the session;
- ``logout_token_signing_alg_values_supported``: the algorithms of the keys it publishes (the
  one it signs with, those it may sign with after a rotation). Not a registered name: receivers
  that do not know it ignore it (RFC 8414, section 2). The registered
  ``id_token_signing_alg_values_supported``, which Back-Channel Logout 1.0 (section 2.6) points
  receivers to, would say that the hub issues ID tokens.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from logout_sso.conf import app_settings
from logout_sso.handlers import is_hub
from logout_sso.hub.internal.keys import published_jwks


def hub_metadata(jwks_path: str) -> dict[str, Any] | None:
    """The hub's metadata, its JWKS at ``jwks_path`` (as routed); None where this project is
    no hub (no ``HUB_SIGNING_KEY`` or no ``HUB_ISSUER``)."""
    issuer = app_settings.HUB_ISSUER
    if not issuer or not is_hub():
        return None
    origin = urlsplit(issuer)._replace(path="", query="", fragment="").geturl()
    return {
        "issuer": issuer,
        "jwks_uri": origin + jwks_path,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "logout_token_signing_alg_values_supported": sorted(
            {key["alg"] for key in published_jwks()["keys"]}
        ),
    }
