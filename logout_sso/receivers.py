"""Receivers logout_sso connects to model signals (imported from ``AppConfig.ready``)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_delete
from django.dispatch import receiver

from logout_sso.conf import app_settings
from logout_sso.hub import outbox
from logout_sso.models import LogoutEvent, LogoutPolicy, Organization
from logout_sso.models.organizations import SLOMode
from logout_sso.policies import forget_policy, get_policy
from logout_sso.sessions import end_organization_sessions
from logout_sso.signals import logout_recorded


@receiver(post_save, sender=Organization, dispatch_uid="logout_sso_create_policy")
def create_default_policy(
    sender: type[Organization], instance: Organization, created: bool, raw: bool, **kwargs: Any
) -> None:
    """Every organization has a logout policy, with the defaults until an admin changes it."""
    if created and not raw:
        LogoutPolicy.objects.get_or_create(organization=instance)


@receiver(pre_delete, sender=Organization, dispatch_uid="logout_sso_end_org_sessions")
def end_sessions_of_deleted_organization(
    sender: type[Organization], instance: Organization, **kwargs: Any
) -> None:
    """A deleted organization's users are signed out of this project."""
    end_organization_sessions(instance.pk)


@receiver(post_save, sender=Organization, dispatch_uid="logout_sso_forget_org_policy")
@receiver(post_delete, sender=Organization, dispatch_uid="logout_sso_forget_deleted_org_policy")
@receiver(post_save, sender=LogoutPolicy, dispatch_uid="logout_sso_forget_policy")
@receiver(post_delete, sender=LogoutPolicy, dispatch_uid="logout_sso_forget_deleted_policy")
def forget_cached_policy(
    sender: type[Any], instance: Organization | LogoutPolicy, **kwargs: Any
) -> None:
    """Drop the cached policy now and again after commit, so a concurrent read that cached the
    old row before the transaction committed does not outlive it."""
    organization_id = instance.pk
    forget_policy(organization_id)
    transaction.on_commit(lambda: forget_policy(organization_id))


@receiver(logout_recorded, dispatch_uid="logout_sso_hub_fan_out")
def fan_out_for_logout_service(
    sender: type[LogoutEvent], event: LogoutEvent, **kwargs: Any
) -> None:
    """When this project is the hub (it has a signing key), a logout of a user of an
    organization whose policy is the logout service reaches every application."""
    if not app_settings.HUB_SIGNING_KEY or event.organization_id is None:
        return
    if get_policy(event.organization_id).slo_mode == SLOMode.LOGOUT_SERVICE:
        outbox.fan_out(event)
