"""Which organization a login is for: ``LOGOUT_SSO["ORGANIZATION_RESOLVER"]``, pluggable.

Subclass :class:`OrganizationResolver` and override :meth:`~OrganizationResolver.resolve` (or one
of its steps) to find organizations your own way.
"""

from __future__ import annotations

from django.http import HttpRequest

from logout_sso.conf import app_settings
from logout_sso.internal.validators import is_plain_text
from logout_sso.models import Organization

__all__ = ["OrganizationResolver", "resolve_organization"]

ORGANIZATION_PARAMETER = "organization"
EMAIL_PARAMETERS = ("login_hint", "email")


class OrganizationResolver:
    """The default: the ``organization`` query parameter (a slug or the IdP's organization id),
    else the domain of ``login_hint`` / ``email``, else the first label of the host name
    (``acme.app.example.com`` -> ``acme``). A parameter that is not printable text (NUL, lone
    surrogates, controls) names no organization."""

    def resolve(self, request: HttpRequest) -> Organization | None:
        """The organization of this login request, or None when nothing names one."""
        parameters = (ORGANIZATION_PARAMETER, *EMAIL_PARAMETERS)
        if not all(is_plain_text(request.GET.get(name, "")) for name in parameters):
            return None
        requested = request.GET.get(ORGANIZATION_PARAMETER, "").strip()
        if requested:
            # An explicit choice is final: an unknown one is not replaced by a guess.
            return self.by_identifier(requested)
        for parameter in EMAIL_PARAMETERS:
            email = request.GET.get(parameter, "")
            if "@" in email:
                return self.by_email_domain(email.rpartition("@")[2])
        return self.by_host(request.get_host())

    def by_identifier(self, identifier: str) -> Organization | None:
        return Organization.objects.by_identifier(identifier)

    def by_email_domain(self, domain: str) -> Organization | None:
        return Organization.objects.filter(email_domains__domain=domain.strip().lower()).first()

    def by_host(self, host: str) -> Organization | None:
        label = host.split(":", 1)[0].split(".", 1)[0].lower()
        return Organization.objects.filter(slug=label).first() if label else None


def resolve_organization(request: HttpRequest) -> Organization | None:
    """Ask the configured resolver."""
    resolver: OrganizationResolver = app_settings.ORGANIZATION_RESOLVER()
    return resolver.resolve(request)
