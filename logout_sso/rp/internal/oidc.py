"""mozilla-django-oidc's settings as logout_sso's RP reads them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from mozilla_django_oidc.utils import import_from_settings

CALLBACK_URL_NAME = "logout_sso:callback"


def oidc_setting(name: str, *default: Any) -> Any:
    """An ``OIDC_*`` setting, with logout_sso's callback as the default callback URL."""
    if name == "OIDC_AUTHENTICATION_CALLBACK_URL" and not hasattr(settings, name):
        return CALLBACK_URL_NAME
    return import_from_settings(name, *default)


def issuer() -> str:
    """``OIDC_OP_ISSUER``: the provider's issuer identifier, checked in every ID token."""
    value = getattr(settings, "OIDC_OP_ISSUER", None)
    if not value:
        raise ImproperlyConfigured(
            "Set OIDC_OP_ISSUER to your OpenID provider's issuer identifier (the 'issuer' of "
            "its discovery document): logout_sso checks it in every ID token."
        )
    return str(value)
