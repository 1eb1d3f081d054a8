"""Where users may be sent: never an open redirect."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme

from logout_sso.conf import app_settings
from logout_sso.internal.policies import OrganizationPolicy


def local_url(request: HttpRequest, url: str | None, fallback: str) -> str:
    """``url`` when it stays on this site (Django's own rules, which refuse ``//evil``,
    ``https:evil``, ``\\\\evil`` and their encoded forms), else ``fallback``."""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return fallback


def after_login_url(request: HttpRequest, url: str | None) -> str:
    return local_url(request, url, resolve_url(settings.LOGIN_REDIRECT_URL))


def default_after_logout_url(request: HttpRequest) -> str:
    """``LOGOUT_REDIRECT_URL`` (default ``/``), absolute: the IdP needs a full URL."""
    return request.build_absolute_uri(resolve_url(settings.LOGOUT_REDIRECT_URL or "/"))


def allowlisted_after_logout_url(requested: str, policy: OrganizationPolicy) -> str | None:
    """``requested`` if it is, character for character, in the organization's or the global
    post-logout allowlist (RP-Initiated Logout 1.0 asks for an exact match)."""
    allowed = {*policy.post_logout_redirect_uris, *app_settings.POST_LOGOUT_REDIRECT_ALLOWLIST}
    return requested if requested in allowed else None
