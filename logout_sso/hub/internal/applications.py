"""Registering applications with the hub from scripts (the ``logout_sso_application`` command)."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction

from logout_sso.models import Application, Organization


class RegistrationError(Exception):
    """The request cannot be carried out; the message says why, in one line."""


def _organizations(slugs: Sequence[str]) -> list[Organization]:
    organizations = list(Organization.objects.filter(slug__in=slugs))
    missing = sorted(set(slugs) - {organization.slug for organization in organizations})
    if missing:
        raise RegistrationError(f"Unknown organization(s): {', '.join(missing)}.")
    return organizations


@transaction.atomic
def add_application(
    *,
    name: str,
    client_id: str,
    backchannel_logout_uri: str,
    organization_slugs: Sequence[str],
    requires_sid: bool = False,
) -> tuple[Application, str]:
    """Register an application; returns it and its credential, in clear, for the only time."""
    organizations = _organizations(organization_slugs)
    application = Application(
        name=name,
        client_id=client_id,
        backchannel_logout_uri=backchannel_logout_uri,
        backchannel_logout_session_required=requires_sid,
    )
    token = application.rotate_credential()
    try:
        application.full_clean()
    except ValidationError as exc:
        reasons = " ".join(
            f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
        )
        raise RegistrationError(reasons) from exc
    application.save()
    application.organizations.set(organizations)
    return application, token


def find_application(client_id: str) -> Application:
    application = Application.objects.filter(client_id=client_id).first()
    if application is None:
        raise RegistrationError(f"No application with client id {client_id!r}.")
    return application


def rotate_application_credential(client_id: str) -> tuple[Application, str]:
    application = find_application(client_id)
    return application, application.rotate_credential()


def disable_application(client_id: str) -> Application:
    """Stop the application's API access and its deliveries."""
    application = find_application(client_id)
    application.enabled = False
    application.save(update_fields=["enabled"])
    return application
