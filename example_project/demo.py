"""The demo's data: two organizations with contrasting policies, two applications, admins."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.db import transaction

from logout_sso.admin.permissions import ensure_organization_admins_group
from logout_sso.models import Application, EmailDomain, LogoutPolicy, Organization
from logout_sso.models.organizations import SLOMode

DEMO_PASSWORD = "demo-password"  # noqa: S105 - a local demo's published password


@dataclass(frozen=True)
class DemoOrganization:
    slug: str
    name: str
    idp_organization_id: str
    domain: str
    slo_mode: str
    session_ttl: int
    federated_logout: bool


@dataclass(frozen=True)
class DemoApplication:
    name: str
    client_id: str
    backchannel_logout_uri: str
    organizations: tuple[str, ...]


ORGANIZATIONS = [
    DemoOrganization(
        slug="acme",
        name="Acme",
        idp_organization_id="org_acme",
        domain="acme.example",
        slo_mode=SLOMode.SHORT_LIVED_TOKENS,
        session_ttl=300,
        federated_logout=False,
    ),
    DemoOrganization(
        slug="globex",
        name="Globex",
        idp_organization_id="org_globex",
        domain="globex.example",
        slo_mode=SLOMode.LOGOUT_SERVICE,
        session_ttl=600,
        federated_logout=True,
    ),
]
APPLICATIONS = [
    DemoApplication(
        name="Wiki",
        client_id="wiki",
        backchannel_logout_uri="http://127.0.0.1:8000/sso/backchannel-logout/",
        organizations=("acme", "globex"),
    ),
    DemoApplication(
        name="Billing",
        client_id="billing",
        backchannel_logout_uri="http://127.0.0.1:8001/sso/backchannel-logout/",
        organizations=("acme", "globex"),
    ),
]


@dataclass
class SeedReport:
    """What the seed made: user names with the password, new credentials in clear."""

    users: list[tuple[str, str]] = field(default_factory=list)
    credentials: dict[str, str | None] = field(default_factory=dict)


def _user(username: str, *, superuser: bool = False) -> User:
    user, _created = User.objects.get_or_create(username=username)
    user.is_staff = True
    user.is_superuser = superuser
    user.set_password(DEMO_PASSWORD)
    user.save()
    return user


def _organization(spec: DemoOrganization) -> Organization:
    """The organization with its policy and email domain as the demo has them, unless this
    database mirrors it from the hub (a client's, after its first sync): the hub decides then,
    and seeding again must not undo what was changed there."""
    organization = Organization.objects.filter(slug=spec.slug).first()
    if organization is not None and organization.is_mirrored:
        return organization
    organization, _created = Organization.objects.update_or_create(
        slug=spec.slug,
        defaults={"name": spec.name, "idp_organization_id": spec.idp_organization_id},
    )
    LogoutPolicy.objects.update_or_create(
        organization=organization,
        defaults={
            "slo_mode": spec.slo_mode,
            "session_ttl": spec.session_ttl,
            "federated_logout": spec.federated_logout,
        },
    )
    EmailDomain.objects.get_or_create(domain=spec.domain, organization=organization)
    return organization


@transaction.atomic
def seed() -> SeedReport:
    """Create or update the demo data; running it again changes nothing but passwords."""
    report = SeedReport()
    _user("admin", superuser=True)
    report.users.append(("admin", DEMO_PASSWORD))
    group = ensure_organization_admins_group()
    organizations = {}
    for spec in ORGANIZATIONS:
        organization = _organization(spec)
        admin = _user(f"{organization.slug}-admin")
        admin.groups.add(group)
        organization.admins.add(admin)
        report.users.append((admin.username, DEMO_PASSWORD))
        organizations[organization.slug] = organization
    for app_spec in APPLICATIONS:
        application = Application.objects.filter(client_id=app_spec.client_id).first()
        if application is None:
            application, token = Application.objects.create_with_credential(
                name=app_spec.name,
                client_id=app_spec.client_id,
                backchannel_logout_uri=app_spec.backchannel_logout_uri,
            )
            report.credentials[application.name] = token
        else:
            report.credentials[application.name] = None
        application.organizations.add(*(organizations[slug] for slug in app_spec.organizations))
    return report
