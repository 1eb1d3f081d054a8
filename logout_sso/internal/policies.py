"""Organizations' logout policies as the request path reads them: from the shared cache.

A request must not cost a database query to learn its organization's policy, so the policy is
cached (in ``LOGOUT_SSO["CACHE_ALIAS"]``, shared by every process) and the cache entry is dropped
whenever the organization or its policy is saved or deleted (see ``receivers``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import caches

from logout_sso.conf import app_settings
from logout_sso.models import LogoutPolicy

CACHE_KEY = "logout_sso:policy:v2:{organization_id}"
CACHE_TIMEOUT = 60 * 60


@dataclass(frozen=True)
class OrganizationPolicy:
    """What the flows need to know about one organization and its logout policy."""

    organization_id: int
    slug: str
    idp_organization_id: str
    connection: str
    auto_forward: bool
    federated_logout: bool
    slo_mode: str
    session_ttl: int
    post_logout_redirect_uris: tuple[str, ...]
    #: Client mode: mirrored from the hub, which then serves it to this application.
    mirrored: bool = False

    @classmethod
    def from_policy(cls, policy: LogoutPolicy) -> OrganizationPolicy:
        organization = policy.organization
        return cls(
            organization_id=organization.pk,
            slug=organization.slug,
            idp_organization_id=organization.idp_organization_id,
            connection=organization.connection,
            auto_forward=organization.auto_forward,
            federated_logout=policy.federated_logout,
            slo_mode=policy.slo_mode,
            session_ttl=policy.session_ttl,
            post_logout_redirect_uris=tuple(policy.post_logout_redirect_uri_list),
            mirrored=organization.is_mirrored,
        )


def _cache_key(organization_id: int) -> str:
    return CACHE_KEY.format(organization_id=organization_id)


def get_policy(organization_id: int) -> OrganizationPolicy:
    """The organization's policy, from the shared cache or, once, from the database.

    Raises ``LogoutPolicy.DoesNotExist`` for an unknown organization.
    """
    cache = caches[app_settings.CACHE_ALIAS]
    key = _cache_key(organization_id)
    policy: OrganizationPolicy | None = cache.get(key)
    if policy is None:
        policy = OrganizationPolicy.from_policy(
            LogoutPolicy.objects.select_related("organization").get(pk=organization_id)
        )
        cache.set(key, policy, CACHE_TIMEOUT)
    return policy


def forget_policy(organization_id: int) -> None:
    """Drop the cached policy, so the next read sees the database."""
    caches[app_settings.CACHE_ALIAS].delete(_cache_key(organization_id))
