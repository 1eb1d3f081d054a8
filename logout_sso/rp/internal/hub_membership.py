"""Client mode: an application that tells a logout_sso hub about its sessions.

With ``LOGOUT_SSO["HUB_URL"]`` and ``["HUB_API_CREDENTIAL"]`` set, every OpenID Connect sign-in of
an organization the hub serves to this application (one mirrored from it) is registered at the
hub and every logout reported or removed there, from Celery tasks, so that a slow or absent hub
never slows a sign-in. The hub knows sessions by a digest of the session key, never the key
itself.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured

from logout_sso.client import HubClient
from logout_sso.conf import app_settings
from logout_sso.internal.policies import OrganizationPolicy

logger = logging.getLogger(__name__)

#: One warning per organization the hub does not serve, per hour, however many processes.
UNSERVED_WARNING_KEY = "logout_sso:unserved-at-hub:v1:{organization_id}"
UNSERVED_WARNING_SECONDS = 60 * 60


def enabled() -> bool:
    return bool(app_settings.HUB_URL and app_settings.HUB_API_CREDENTIAL)


def hub_client() -> HubClient:
    url, credential = app_settings.HUB_URL, app_settings.HUB_API_CREDENTIAL
    if not url or not credential:
        raise ImproperlyConfigured('Set LOGOUT_SSO["HUB_URL"] and ["HUB_API_CREDENTIAL"].')
    return HubClient(url, credential)


def served_at_hub(policy: OrganizationPolicy) -> bool:
    """Whether the hub serves this organization to this application, so takes its sessions:
    it does when the organization is mirrored from there. Warns when not, once an hour per
    organization (the flag lives in the shared cache, ``CACHE_ALIAS``)."""
    if policy.mirrored:
        return True
    key = UNSERVED_WARNING_KEY.format(organization_id=policy.organization_id)
    if caches[app_settings.CACHE_ALIAS].add(key, True, UNSERVED_WARNING_SECONDS):
        logger.warning(
            "Sign-ins of organization %r are not registered at the hub: the hub does not serve "
            "it to this application (it is not mirrored from there), so a logout elsewhere "
            "cannot reach its sessions here but by the silent re-check. At the hub, add the "
            "organization to this application; it is mirrored within POLICY_SYNC_INTERVAL. "
            "(Said once an hour.)",
            policy.slug,
        )
    return False


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
