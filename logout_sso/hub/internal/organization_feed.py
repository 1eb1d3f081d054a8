"""What ``GET /sso/api/organizations/`` answers: the organizations an application serves, with
their logout policies, for client-mode applications to mirror.

The body is canonical JSON (keys sorted, no spaces, organizations by id), so that equal content
is equal bytes and its SHA-256 digest is its version: the strong ``ETag``. A client that sends
it back in ``If-None-Match`` gets ``304 Not Modified`` until something it would receive changes.
Three queries whatever the number of organizations: the credential, the organizations with
their policies, their email domains.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.http import parse_etags

from logout_sso.models import Application, EmailDomain, Organization

#: The admin's change page of an organization, at the hub.
ADMIN_CHANGE_URL_NAME = "admin:logout_sso_organization_change"
#: Stands for the organization's id in the admin's URL, reversed once per answer.
PK_MARKER = "__organization_pk__"


def organizations_of(application: Application) -> QuerySet[Organization]:
    """The organizations ``application`` serves, with their policy and email domains."""
    return (
        application.organizations.select_related("logout_policy")
        .prefetch_related(
            Prefetch("email_domains", queryset=EmailDomain.objects.order_by("domain"))
        )
        .order_by("pk")
    )


def admin_url_template(request: HttpRequest) -> str:
    """The absolute URL of an organization's page in the hub's admin, ``PK_MARKER`` for its id
    (the admin's URLs take any text there); "" where the admin is not installed."""
    try:
        path = reverse(ADMIN_CHANGE_URL_NAME, args=[PK_MARKER])
    except NoReverseMatch:
        return ""
    return request.build_absolute_uri(path)


def organization_json(organization: Organization, admin_url: str) -> dict[str, Any]:
    """One organization and its policy, as a client mirrors them; ``admin_url`` as made by
    :func:`admin_url_template`."""
    policy = organization.logout_policy
    return {
        "id": organization.pk,
        "name": organization.name,
        "slug": organization.slug,
        "idp_organization_id": organization.idp_organization_id,
        "connection": organization.connection,
        "auto_forward": organization.auto_forward,
        "email_domains": sorted(domain.domain for domain in organization.email_domains.all()),
        "admin_url": admin_url.replace(PK_MARKER, str(organization.pk)),
        "updated_at": max(organization.updated_at, policy.updated_at).isoformat(),
        "policy": {
            "federated_logout": policy.federated_logout,
            "slo_mode": policy.slo_mode,
            "session_ttl": policy.session_ttl,
            "post_logout_redirect_uris": policy.post_logout_redirect_uri_list,
        },
    }


def answer(request: HttpRequest, application: Application) -> bytes:
    """The canonical JSON body: ``{"organizations": [...]}``."""
    admin_url = admin_url_template(request)
    document = {
        "organizations": [
            organization_json(organization, admin_url)
            for organization in organizations_of(application)
        ]
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def etag_of(body: bytes) -> str:
    """The strong entity tag of a body: its SHA-256 digest, quoted."""
    return f'"{hashlib.sha256(body).hexdigest()}"'


def none_match(if_none_match: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` header matches ``etag`` (RFC 9110, 13.1.2): ``*``, or one
    of a list of tags compared weakly (``W/"x"`` matches ``"x"``)."""
    tags = parse_etags(if_none_match)
    if tags == ["*"]:
        return True
    target = etag.removeprefix("W/")
    return any(tag.removeprefix("W/") == target for tag in tags)
