"""Names from the specifications that more than one role uses."""

from __future__ import annotations

__all__ = ["BACKCHANNEL_LOGOUT_EVENT", "LOGOUT_TOKEN_TYPE"]

#: The member of a logout token's ``events`` claim (OpenID Connect Back-Channel Logout 1.0, 2.4).
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: The ``typ`` header of logout tokens the hub signs (recommended by 2.4, never required).
LOGOUT_TOKEN_TYPE = "logout+jwt"  # noqa: S105 - a media type, not a secret
