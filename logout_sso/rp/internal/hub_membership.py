"""Client mode: an application that tells a logout_sso hub about its sessions.

With ``LOGOUT_SSO["HUB_URL"]`` and ``["HUB_API_CREDENTIAL"]`` set, every OpenID Connect sign-in is
registered at the hub and every logout reported or removed there, from Celery tasks, so that a
slow or absent hub never slows a sign-in. The hub knows sessions by a digest of the session key,
never the key itself.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from logout_sso.client import HubClient
from logout_sso.conf import app_settings
from logout_sso.internal.policies import OrganizationPolicy


def enabled() -> bool:
    return bool(app_settings.HUB_URL and app_settings.HUB_API_CREDENTIAL)


def hub_client() -> HubClient:
    url, credential = app_settings.HUB_URL, app_settings.HUB_API_CREDENTIAL
    if not url or not credential:
        raise ImproperlyConfigured('Set LOGOUT_SSO["HUB_URL"] and ["HUB_API_CREDENTIAL"].')
    return HubClient(url, credential)


def hub_session_id(session_key: str) -> str:
    """What the hub calls a session: a digest, so a hub's data cannot hijack one."""
    return hashlib.sha256(f"logout_sso:{session_key}".encode()).hexdigest()


def organization_identifier(policy: OrganizationPolicy) -> str:
    """The IdP's organization id (the same at the hub), else the slug."""
    return policy.idp_organization_id or policy.slug


def registration(
    session_key: str, policy: OrganizationPolicy, *, issuer: str, sub: str, sid: str
) -> dict[str, Any]:
    return {
        "session_id": hub_session_id(session_key),
        "organization": organization_identifier(policy),
        "issuer": issuer,
        "sub": sub,
        "sid": sid,
    }
