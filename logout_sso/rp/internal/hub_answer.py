"""Client mode: the hub's list of organizations (``GET /sso/api/organizations/``), checked before
any of it is applied.

The hub is another system: what it sends is validated as an admin's input is, by the models'
own field validation (types, lengths, slug and domain formats, the TTL's range, secure redirect
URLs), and must name each organization, slug, IdP organization id and email domain once.
Anything wrong fails the whole answer, with a one-line reason naming the organization and the
field. The rules that need the database (the policy's check constraints, the organization's
``clean()``) are checked by :mod:`~logout_sso.rp.internal.mirror_apply` for what an answer
changes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from logout_sso.internal.validators import is_plain_text
from logout_sso.models import EmailDomain, LogoutPolicy, Organization

#: The organization's fields the hub decides, as the model names them.
ORGANIZATION_FIELDS = (
    "name",
    "slug",
    "idp_organization_id",
    "connection",
    "auto_forward",
    "hub_admin_url",
)
#: The policy's fields the hub decides; the delivery retry settings stay this project's own.
POLICY_FIELDS = ("federated_logout", "slo_mode", "session_ttl", "post_logout_redirect_uris")

#: The policy's fields that stay this project's own.
LOCAL_POLICY_FIELDS = {
    "organization",
    "delivery_max_attempts",
    "delivery_backoff_seconds",
    "delivery_backoff_max_seconds",
}

MAX_ID = 2**63 - 1
#: An organization of the answer: each member and its JSON type.
ORGANIZATION_MEMBERS: dict[str, type] = {
    "id": int,
    "name": str,
    "slug": str,
    "idp_organization_id": str,
    "connection": str,
    "auto_forward": bool,
    "email_domains": list,
    "admin_url": str,
    "policy": dict,
}
POLICY_MEMBERS: dict[str, type] = {
    "federated_logout": bool,
    "slo_mode": str,
    "session_ttl": int,
    "post_logout_redirect_uris": list,
}


class InvalidAnswer(Exception):
    """The hub's answer cannot be applied; the message says why, in one line."""


@dataclass(frozen=True)
class HubOrganization:
    """One organization as the hub serves it, validated; field names are the models'."""

    hub_id: int
    organization: dict[str, Any]  # ORGANIZATION_FIELDS
    policy: dict[str, Any]  # POLICY_FIELDS, the redirect URIs one per line
    email_domains: frozenset[str]

    @property
    def label(self) -> str:
        return f"organization {self.hub_id} ({self.organization['slug']!r})"


def _typed(value: Any, expected: type) -> bool:
    # JSON's true is not a number; a number is not a boolean.
    return isinstance(value, expected) and (expected is bool or not isinstance(value, bool))


def _check_members(item: dict[str, Any], members: dict[str, type], where: str) -> None:
    for name, expected in members.items():
        if name not in item:
            raise InvalidAnswer(f"{where} has no {name!r}.")
        value = item[name]
        if not _typed(value, expected):
            raise InvalidAnswer(f"{where}: {name!r} must be a JSON {_json_type(expected)}.")
        if isinstance(value, str) and not is_plain_text(value):
            raise InvalidAnswer(f"{where}: {name!r} must be printable text.")


def _json_type(expected: type) -> str:
    return {int: "integer", str: "string", bool: "boolean", list: "array", dict: "object"}[expected]


def _strings(values: list[Any], name: str, where: str) -> list[str]:
    """A list of non-empty printable strings (so no line breaks)."""
    for value in values:
        if not isinstance(value, str) or not is_plain_text(value) or not value:
            raise InvalidAnswer(f"{where}: {name!r} must be a list of non-empty printable strings.")
    return list(values)


def reason_of(error: ValidationError) -> str:
    """A ValidationError in one line: ``field: message; field: message``."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    return "; ".join(
        " ".join(messages) if field == NON_FIELD_ERRORS else f"{field}: {' '.join(messages)}"
        for field, messages in error.message_dict.items()
    )


def _validated(item: dict[str, Any]) -> HubOrganization:
    hub_id = item.get("id")
    where = f"organization {hub_id!r}" if _typed(hub_id, int) else "an organization"
    _check_members(item, ORGANIZATION_MEMBERS, where)
    if not 1 <= item["id"] <= MAX_ID:
        raise InvalidAnswer(f"{where}: 'id' must be from 1 to {MAX_ID}.")
    where = f"organization {item['id']} ({item['slug']!r})"
    _check_members(item["policy"], POLICY_MEMBERS, f"{where}: 'policy'")
    policy = item["policy"]
    # Printable, so one line each: joined with newlines, they are the policy's lines.
    redirect_uris = _strings(
        policy["post_logout_redirect_uris"], "post_logout_redirect_uris", where
    )
    domains = _strings(item["email_domains"], "email_domains", where)
    organization_fields = {
        "name": item["name"],
        "slug": item["slug"],
        "idp_organization_id": item["idp_organization_id"],
        "connection": item["connection"],
        "auto_forward": item["auto_forward"],
        "hub_admin_url": item["admin_url"],
    }
    policy_fields = {
        "federated_logout": policy["federated_logout"],
        "slo_mode": policy["slo_mode"],
        "session_ttl": policy["session_ttl"],
        "post_logout_redirect_uris": "\n".join(redirect_uris),
    }
    try:
        Organization(hub_id=item["id"], **organization_fields).clean_fields()
        LogoutPolicy(**policy_fields).clean_fields(exclude=["organization"])
        for domain in domains:
            EmailDomain(domain=domain).clean_fields(exclude=["organization"])
    except ValidationError as exc:
        raise InvalidAnswer(f"{where}: {reason_of(exc)}") from exc
    return HubOrganization(item["id"], organization_fields, policy_fields, frozenset(domains))


def check_policy_rules(organization: HubOrganization) -> None:
    """The policy's own rules across fields (at most 15 minutes with short-lived tokens): its
    check constraints, which the database evaluates (a query each), so checked only for the
    policies an answer changes. The delivery settings stay this project's: not checked."""
    try:
        LogoutPolicy(**organization.policy).validate_constraints(exclude=LOCAL_POLICY_FIELDS)
    except ValidationError as exc:
        raise InvalidAnswer(f"{organization.label}: {reason_of(exc)}") from exc


def _once(values: Iterable[str], what: str) -> None:
    repeated = sorted(value for value, count in Counter(values).items() if count > 1)
    if repeated:
        raise InvalidAnswer(f"The answer names {what} {repeated[0]!r} more than once.")


def parse(items: list[dict[str, Any]]) -> list[HubOrganization]:
    """The hub's organizations, validated; :class:`InvalidAnswer` for the first problem."""
    organizations = [_validated(item) for item in items]
    _once((str(organization.hub_id) for organization in organizations), "the organization id")
    _once((organization.organization["name"] for organization in organizations), "the name")
    # A slug and an IdP organization id are one namespace (Organization.clean).
    _once(
        (
            identifier
            for organization in organizations
            for identifier in {
                organization.organization["slug"],
                organization.organization["idp_organization_id"],
            }
            if identifier
        ),
        "the identifier (slug or IdP organization id)",
    )
    _once(
        (domain for organization in organizations for domain in organization.email_domains),
        "the email domain",
    )
    return organizations
