"""What the session remembers of an OpenID Connect sign-in, and of logins under way."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from django.contrib.sessions.backends.base import SessionBase

SESSION_KEY = "logout_sso"


@dataclass(frozen=True)
class SignedIn:
    """The signed-in user's IdP identity, kept in the session for later flows."""

    organization_id: int
    issuer: str
    sub: str
    sid: str
    id_token: str
    checked_at: float  # the last time the IdP vouched for this session (time.time())

    def deadline(self, session_ttl: int) -> float:
        """When the next user action must re-check with the IdP."""
        return self.checked_at + session_ttl

    def save(self, session: SessionBase) -> None:
        session[SESSION_KEY] = asdict(self)

    @classmethod
    def load(cls, session: SessionBase) -> SignedIn | None:
        data = session.get(SESSION_KEY)
        if not isinstance(data, dict):
            return None
        try:
            return cls(**data)
        except TypeError:
            return None  # Written by another version: treat as not signed in through OIDC.


@dataclass(frozen=True)
class LoginAttempt:
    """One login under way, stored beside mozilla-django-oidc's state entry so that several
    tabs logging in (or re-checking) at once each come back to their own page."""

    organization_id: int
    next_url: str
    silent: bool

    ENTRY_KEY = "logout_sso"

    def attach(self, state_entry: dict[str, Any]) -> None:
        state_entry[self.ENTRY_KEY] = asdict(self)

    @classmethod
    def from_state_entry(cls, state_entry: Any) -> LoginAttempt | None:
        if not isinstance(state_entry, dict) or not isinstance(
            state_entry.get(cls.ENTRY_KEY), dict
        ):
            return None
        try:
            return cls(**state_entry[cls.ENTRY_KEY])
        except TypeError:
            return None


def now() -> float:
    """The clock the re-check deadline is measured with: call it as ``state.now()`` so that a
    test that moves it (``monkeypatch.setattr("logout_sso.rp.internal.state.now", ...)``)
    moves it everywhere."""
    return time.time()
