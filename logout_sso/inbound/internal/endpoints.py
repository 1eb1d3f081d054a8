"""The absolute URLs of an organization's inbound endpoints, as its identity provider calls them.

``LOGOUT_SSO["PUBLIC_URL"]`` when set (the same URL whichever host the admin was opened at);
else the address of the request being served (the admin's); without either (a command), none.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

from logout_sso.conf import app_settings
from logout_sso.models import Organization

__all__ = ["NoPublicURL", "events_endpoint_url"]


class NoPublicURL(Exception):
    """Neither ``PUBLIC_URL`` nor a request says at which address this project is reached."""


def absolute_url(path: str, request: HttpRequest | None = None) -> str:
    """``path`` (from ``reverse``) at this project's public address."""
    if app_settings.PUBLIC_URL:
        return app_settings.PUBLIC_URL + path
    if request is not None:
        return request.build_absolute_uri(path)
    raise NoPublicURL(
        "This project's public address is unknown: set LOGOUT_SSO['PUBLIC_URL'] "
        "(https://hub.example.com)."
    )


def events_endpoint_url(organization: Organization, request: HttpRequest | None = None) -> str:
    """Where a Shared Signals transmitter pushes the events of ``organization`` (RFC 8935)."""
    return absolute_url(
        reverse("logout_sso:ssf_events", kwargs={"organization": organization.slug}), request
    )
