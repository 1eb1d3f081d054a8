"""Handlers of model signals and of logout_sso's own, connected in ``AppConfig.ready``.

The hub's handler (:mod:`logout_sso.hub.handlers`) is connected only where the settings make
this project a hub, and follows them when they change (tests, ``override_settings``): a
project that only signs users in never imports the hub's machinery.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_delete
from django.dispatch import receiver

from logout_sso import tasks
from logout_sso.conf import app_settings
from logout_sso.internal.policies import forget_policy, get_policy
from logout_sso.internal.session_index import end_organization_sessions
from logout_sso.models import LogoutEvent, LogoutPolicy, Organization
from logout_sso.models.organizations import SLOMode
from logout_sso.rp.internal import hub_membership
from logout_sso.signals import logout_recorded, signed_in

__all__ = ["connect_hub_handlers", "is_hub"]

HUB_FAN_OUT = "logout_sso_hub_fan_out"


def is_hub() -> bool:
    """Whether the settings make this project a hub (it has a signing key)."""
    try:
        return bool(app_settings.HUB_SIGNING_KEY)
    except ImproperlyConfigured:
        return False  # Invalid settings: reported by the system check logout_sso.E001.


def connect_hub_handlers() -> None:
    """Connect the hub's fan-out to ``logout_recorded`` when this project is a hub, else
    disconnect it."""
    if is_hub():
        from logout_sso.hub.handlers import fan_out_for_logout_service

        logout_recorded.connect(fan_out_for_logout_service, dispatch_uid=HUB_FAN_OUT)
    else:
        logout_recorded.disconnect(dispatch_uid=HUB_FAN_OUT)


@receiver(setting_changed, dispatch_uid="logout_sso_follow_hub_settings")
def follow_hub_settings(setting: str, **kwargs: Any) -> None:
    if setting == "LOGOUT_SSO":
        connect_hub_handlers()


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


@receiver(signed_in, dispatch_uid="logout_sso_register_at_hub")
def register_at_hub(
    sender: type[Any], session_key: str, organization_id: int, **identity: Any
) -> None:
    """Client mode: the hub learns of the session once the sign-in committed, if it serves the
    organization to this application (whatever its SLO mode: an admin's logout at the hub must
    reach every application); else nothing is sent, and a warning says so once an hour."""
    if not hub_membership.enabled():
        return
    policy = get_policy(organization_id)
    if hub_membership.served_at_hub(policy):
        registration = hub_membership.registration(
            session_key,
            policy,
            issuer=identity["issuer"],
            sub=identity["sub"],
            sid=identity["sid"],
        )
        transaction.on_commit(partial(tasks.register_session_at_hub.delay, registration))


@receiver(logout_recorded, dispatch_uid="logout_sso_tell_hub")
def tell_hub(
    sender: type[LogoutEvent], event: LogoutEvent, session_key: str | None = None, **kwargs: Any
) -> None:
    """Client mode: a logout here is reported to the hub when the organization uses the
    logout service (so every application hears of it), else the session is just removed; for
    an organization the hub does not serve to this application, nothing is sent."""
    if not hub_membership.enabled() or session_key is None or event.organization_id is None:
        return
    policy = get_policy(event.organization_id)
    if not policy.mirrored:
        return  # Never registered there (see register_at_hub).
    if policy.slo_mode == SLOMode.LOGOUT_SERVICE:
        logout = {
            "sub": event.sub,
            "sid": event.sid,
            "issuer": event.issuer,
            "organization": hub_membership.organization_identifier(policy),
        }
        transaction.on_commit(partial(tasks.report_logout_to_hub.delay, logout))
    else:
        session_id = hub_membership.hub_session_id(session_key)
        transaction.on_commit(partial(tasks.remove_session_at_hub.delay, session_id))
