"""Client mode: make this project's organizations and policies those the hub serves it, in one
transaction.

Each organization of the hub's answer is matched by its id at the hub (``hub_id``), else it
adopts the local organization with the same slug that is not mirrored yet (one seeded here
before client mode), else it is created. Only the fields the hub decides are written, and only
when they changed (:data:`~logout_sso.rp.internal.hub_answer.ORGANIZATION_FIELDS`,
``POLICY_FIELDS`` and the email domains): admins and the delivery retry settings stay local.
A mirrored organization the hub no longer lists is deleted, which signs its users out here
(``end_sessions_of_deleted_organization``).

Identifiers may move between organizations in one answer (two slugs swapped at the hub): the
organizations whose identifiers change first take temporary ones, and the email domains that
move leave their organization before joining another. An identifier or domain held by a local
organization the hub does not manage is a conflict: :class:`MirrorConflict`, nothing applied.
Every organization written is validated by the model's ``clean()`` in its final state (its
uniqueness is the conflicts' check, and the database's), every policy changed by its check
constraints, before anything is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from logout_sso.models import EmailDomain, Organization
from logout_sso.rp.internal.hub_answer import (
    POLICY_FIELDS,
    HubOrganization,
    InvalidAnswer,
    check_policy_rules,
    reason_of,
)

#: The fields of an organization that are unique: moved aside before they move to another.
UNIQUE_FIELDS = ("name", "slug", "idp_organization_id")


class MirrorConflict(Exception):
    """The hub's answer clashes with this project's own data; the message says how."""


@dataclass(frozen=True)
class Applied:
    """How many organizations an answer created, updated, removed and left as they were."""

    created: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0


@dataclass
class _Pair:
    """An organization of the answer and its local copy (None: to be created), with what
    differs between them, as found before anything is written."""

    hub: HubOrganization
    local: Organization | None
    fields: list[str] = field(init=False)  # the organization's fields that change
    policy_fields: list[str] = field(init=False)
    domains: set[str] = field(init=False)  # the local copy's email domains

    def __post_init__(self) -> None:
        local = self.local
        if local is None:
            self.fields, self.policy_fields, self.domains = list(self.hub.organization), [], set()
            return
        self.fields = [
            name for name, value in self.hub.organization.items() if getattr(local, name) != value
        ]
        if local.hub_id != self.hub.hub_id:
            self.fields.append("hub_id")
        self.policy_fields = [
            name
            for name, value in self.hub.policy.items()
            if getattr(local.logout_policy, name) != value
        ]
        self.domains = {domain.domain for domain in local.email_domains.all()}

    @property
    def unchanged(self) -> bool:
        return bool(
            self.local is not None
            and not self.fields
            and not self.policy_fields
            and self.domains == self.hub.email_domains
        )


def _pairs(answer: list[HubOrganization]) -> tuple[list[_Pair], list[Organization]]:
    """Each organization of the answer with its local copy; the mirrored ones it leaves out."""
    base = Organization.objects.select_related("logout_policy").prefetch_related("email_domains")
    mirrored = {organization.hub_id: organization for organization in base.exclude(hub_id=None)}
    listed = {organization.hub_id for organization in answer}
    new_slugs = [
        organization.organization["slug"]
        for organization in answer
        if organization.hub_id not in mirrored
    ]
    adoptable = {
        organization.slug: organization
        for organization in base.filter(hub_id=None, slug__in=new_slugs)
    }
    pairs = [
        _Pair(
            organization,
            mirrored.get(organization.hub_id) or adoptable.get(organization.organization["slug"]),
        )
        for organization in answer
    ]
    removed = [organization for hub_id, organization in mirrored.items() if hub_id not in listed]
    return pairs, removed


def _check_conflicts(pairs: list[_Pair], removed: list[Organization]) -> None:
    """Refuse an answer whose names, identifiers or email domains a local organization the hub
    does not manage holds."""
    involved = [pair.local.pk for pair in pairs if pair.local] + [org.pk for org in removed]
    others = Organization.objects.exclude(pk__in=involved)
    names = {pair.hub.organization["name"]: pair.hub for pair in pairs}
    identifiers = {
        pair.hub.organization[name]: pair.hub
        for pair in pairs
        for name in ("slug", "idp_organization_id")
        if pair.hub.organization[name]
    }
    holder = (
        others.filter(
            Q(name__in=names) | Q(slug__in=identifiers) | Q(idp_organization_id__in=identifiers)
        )
        .order_by("pk")
        .first()
    )
    if holder is not None:
        claimant = (
            names.get(holder.name)
            or identifiers.get(holder.slug)
            or identifiers[holder.idp_organization_id]
        )
        raise MirrorConflict(
            f"{claimant.label} has the name or an identifier of the local organization "
            f"{holder.slug!r} (id {holder.pk}), which is not mirrored: rename or delete the "
            "local one."
        )
    owners = {domain: pair.hub for pair in pairs for domain in pair.hub.email_domains}
    held = (
        EmailDomain.objects.filter(domain__in=owners)
        .exclude(organization__in=involved)
        .select_related("organization")
        .order_by("domain")
        .first()
    )
    if held is not None:
        raise MirrorConflict(
            f"{owners[held.domain].label} has the email domain {held.domain!r} of the local "
            f"organization {held.organization.slug!r} (id {held.organization.pk}), which is not "
            "mirrored: remove it there."
        )


def _move_identifiers_aside(pairs: list[_Pair], removed: list[Organization]) -> None:
    """Temporary values (never a valid slug) for the unique fields that change, and for those
    of the organizations that go, so that two organizations can swap theirs."""
    for organization, fields in [
        *((pair.local, set(pair.fields) & set(UNIQUE_FIELDS)) for pair in pairs if pair.local),
        *((organization, set(UNIQUE_FIELDS)) for organization in removed),
    ]:
        temporary = f"~mirror~{organization.pk}"
        aside = {"name": temporary, "slug": temporary, "idp_organization_id": ""}
        if fields:
            Organization.objects.filter(pk=organization.pk).update(
                **{name: aside[name] for name in fields}
            )


def _write(pair: _Pair) -> Organization:
    """Write what changed; return the organization, saved."""
    if pair.local is None:
        organization = Organization.objects.create(hub_id=pair.hub.hub_id, **pair.hub.organization)
        policy_fields: list[str] = list(POLICY_FIELDS)
    else:
        organization, policy_fields = pair.local, pair.policy_fields
        organization.hub_id = pair.hub.hub_id
        for name in pair.fields:
            if name != "hub_id":
                setattr(organization, name, pair.hub.organization[name])
        if pair.fields:
            organization.save(update_fields=[*pair.fields, "updated_at"])
    if policy_fields:
        policy = organization.logout_policy
        for name in policy_fields:
            setattr(policy, name, pair.hub.policy[name])
        policy.save(update_fields=[*policy_fields, "updated_at"])
    return organization


def _write_domains(written: list[tuple[_Pair, Organization]], removed: list[Organization]) -> None:
    """The email domains each organization should have: those leaving go first, so that a
    domain can move from one organization to another."""
    EmailDomain.objects.filter(organization__in=removed).delete()
    for pair, organization in written:
        leaving = pair.domains - pair.hub.email_domains
        if leaving:
            EmailDomain.objects.filter(organization=organization, domain__in=leaving).delete()
    EmailDomain.objects.bulk_create(
        EmailDomain(organization=organization, domain=domain)
        for pair, organization in written
        for domain in sorted(pair.hub.email_domains - pair.domains)
    )


def apply(answer: list[HubOrganization]) -> Applied:
    """Make the mirrored organizations those of ``answer`` (validated by ``hub_answer``).
    Raises :class:`MirrorConflict` or ``InvalidAnswer``, with nothing applied."""
    with transaction.atomic():
        pairs, removed = _pairs(answer)
        _check_conflicts(pairs, removed)
        changing = [pair for pair in pairs if not pair.unchanged]
        for pair in changing:
            if pair.local is None or pair.policy_fields:
                check_policy_rules(pair.hub)
        _move_identifiers_aside(changing, removed)
        written = [(pair, _write(pair)) for pair in changing]
        for pair, organization in written:
            try:  # Its rules in its final state (clean(): auto-forward needs a connection, ...)
                organization.full_clean(validate_unique=False, validate_constraints=False)
            except ValidationError as exc:
                raise InvalidAnswer(f"{pair.hub.label}: {reason_of(exc)}") from exc
        _write_domains(written, removed)
        for organization in removed:
            organization.delete()  # Its users' sessions here end with it.
    created = sum(pair.local is None for pair in changing)
    return Applied(
        created=created,
        updated=len(changing) - created,
        removed=len(removed),
        unchanged=len(pairs) - len(changing),
    )
