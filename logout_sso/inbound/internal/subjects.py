"""The users (and IdP sessions) a subject identifier names, in one organization only.

Subject identifiers are RFC 9493's (``iss_sub``, ``email``, ``opaque``) and Shared Signals
Framework 1.0's complex subjects (section 3.2: ``{"format": "complex", "user": ..., "session":
...}``). A user is known to an organization by the sessions it has there: the hub's tracked
sessions (live or ended, as long as they are kept) and this project's own sessions. Every query
is filtered by the source's organization: a source naming another organization's user names
nobody. An email names someone only when its domain is one of the organization's email domains.

- ``iss_sub``: that subject at that issuer.
- ``email``: the users whose tracked sessions were registered with that email (compared without
  regard to case).
- ``opaque``: a ``sub`` known in the organization, at any issuer.
- complex: its ``user`` member as above; its ``session`` member (``opaque``: the IdP session's
  ``sid``) narrows it to that session, or alone names the user of that session. Other members
  (``device``, ``tenant``, ...) do not narrow it: the user's sessions all end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from logout_sso.inbound.internal.tokens import Refusal, SignalRefused
from logout_sso.internal.validators import is_plain_text
from logout_sso.models import LocalSession, Organization, TrackedSession

#: The longest identifier looked up (the sub, sid and issuer columns' sizes).
MAX_LENGTHS = {"iss": 500, "sub": 255, "id": 255, "email": 254}
#: At most this many users are logged out by one subject (an email shared by many accounts).
MAX_USERS = 100


@dataclass(frozen=True, order=True)
class User:
    """A user to log out: every session of ``sub`` at ``issuer``, or the one IdP session
    ``sid``."""

    issuer: str
    sub: str
    sid: str = ""


class UnsupportedSubject(SignalRefused):
    """The subject identifier is malformed, or of a format this project cannot look up."""

    def __init__(self, message: str) -> None:
        super().__init__(message, Refusal.UNSUPPORTED_SUBJECT)


def _member(subject: dict[str, Any], name: str) -> str:
    value = subject.get(name)
    limit = MAX_LENGTHS[name]
    if not isinstance(value, str) or not value or len(value) > limit:
        raise UnsupportedSubject(
            f"The {subject.get('format')} subject's {name} must be a string of 1 to {limit} "
            "characters."
        )
    if not is_plain_text(value):
        raise UnsupportedSubject(f"The subject's {name} must be printable text.")
    return value


def _simple(subject: Any) -> dict[str, Any]:
    if not isinstance(subject, dict) or not isinstance(subject.get("format"), str):
        raise UnsupportedSubject("A subject identifier is a JSON object with a format.")
    return subject


def _sessions(organization: Organization, condition: Q) -> set[User]:
    """The users of the tracked and local sessions of ``organization`` matching
    ``condition`` (on issuer, sub, sid)."""
    users: set[User] = set()
    for model in (TrackedSession, LocalSession):
        rows = model.objects.filter(condition, organization=organization)
        users.update(
            User(issuer, sub)
            for issuer, sub in rows.order_by().values_list("issuer", "sub").distinct()[:MAX_USERS]
        )
    return users


def _email_users(organization: Organization, email: str) -> set[User]:
    domain = email.rpartition("@")[2].lower()
    if not organization.email_domains.filter(domain=domain).exists():
        return set()
    rows = TrackedSession.objects.filter(organization=organization, email__iexact=email)
    return {
        User(issuer, sub)
        for issuer, sub in rows.order_by().values_list("issuer", "sub").distinct()[:MAX_USERS]
    }


def user_condition(subject: Any) -> Q | str:
    """The sessions a simple user subject names: a condition on (issuer, sub), or an email."""
    subject = _simple(subject)
    match subject["format"]:
        case "iss_sub":
            return Q(issuer=_member(subject, "iss"), sub=_member(subject, "sub"))
        case "opaque":
            return Q(sub=_member(subject, "id"))
        case "email":
            return _member(subject, "email")
    raise UnsupportedSubject(
        f"Subject format {subject['format'][:40]!r} is not supported (iss_sub, email, opaque, "
        "complex)."
    )


def _users(organization: Organization, subject: Any) -> set[User]:
    condition = user_condition(subject)
    if isinstance(condition, str):
        return _email_users(organization, condition)
    return _sessions(organization, condition)


def _session_sid(session: Any) -> str:
    session = _simple(session)
    if session["format"] != "opaque":
        raise UnsupportedSubject("A session subject must be of format opaque (its id the sid).")
    return _member(session, "id")


def _complex(organization: Organization, subject: dict[str, Any]) -> set[User]:
    if "user" not in subject and "session" not in subject:
        raise UnsupportedSubject("A complex subject must name a user or a session.")
    if "session" not in subject:
        return _users(organization, subject["user"])
    sid = _session_sid(subject["session"])
    in_session = {User(user.issuer, user.sub, sid) for user in _sessions(organization, Q(sid=sid))}
    if "user" in subject:
        named = {(user.issuer, user.sub) for user in _users(organization, subject["user"])}
        in_session = {user for user in in_session if (user.issuer, user.sub) in named}
    return in_session


def resolve(organization: Organization, subject: Any) -> list[User]:
    """The users of ``organization`` that ``subject`` (a ``sub_id``) names, in a stable order
    (none: nobody there). Raises :class:`UnsupportedSubject`."""
    subject = _simple(subject)
    if subject["format"] == "complex":
        users = _complex(organization, subject)
    else:
        users = _users(organization, subject)
    return sorted(users)[:MAX_USERS]
