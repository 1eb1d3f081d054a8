"""logout_sso's public API: the functions an integrator's code calls.

Everything here is typed, documented and kept stable; the admin's actions, the management
commands and the session API's views call these functions too. Modules under ``internal``
packages are machinery and may change in any release.

- Logging out: :func:`log_out_user`, :func:`log_out_users_by_email`,
  :func:`log_out_organization` (a background job: :func:`organization_logout_progress`),
  :func:`end_local_sessions`.
- The hub's deliveries and records: :func:`retry_failed_deliveries`,
  :func:`send_due_deliveries`, :func:`purge`.
- The hub's applications: :func:`add_application`, :func:`rotate_application_credential`,
  :func:`disable_application`.
- Client mode (this project as an application of a hub): :func:`register_session_at_hub`,
  :func:`remove_session_at_hub`, :func:`sync_policies_from_hub`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet

from logout_sso.hub.internal import applications, jobs, outbox, progress
from logout_sso.hub.internal.progress import LogoutProgress
from logout_sso.internal import retention, session_index
from logout_sso.internal.policies import get_policy
from logout_sso.internal.retention import PurgeReport
from logout_sso.models import (
    Application,
    LogoutEvent,
    Organization,
    OrganizationLogoutJob,
    TrackedSession,
)
from logout_sso.models.events import Initiator
from logout_sso.rp.internal import hub_membership, policy_mirror
from logout_sso.rp.internal.policy_mirror import SyncReport

__all__ = [
    "Initiator",
    "LogoutProgress",
    "PurgeReport",
    "RegistrationError",
    "SyncReport",
    "add_application",
    "disable_application",
    "end_local_sessions",
    "log_out_organization",
    "log_out_user",
    "log_out_users_by_email",
    "organization_logout_progress",
    "purge",
    "register_session_at_hub",
    "remove_session_at_hub",
    "retry_failed_deliveries",
    "rotate_application_credential",
    "send_due_deliveries",
    "sync_policies_from_hub",
]

#: A request of :func:`add_application` and its kin cannot be carried out (one-line reason).
RegistrationError = applications.RegistrationError


def _issuer(issuer: str | None) -> str:
    chosen = issuer or getattr(settings, "OIDC_OP_ISSUER", None)
    if not chosen:
        raise ValueError("Name the issuer: OIDC_OP_ISSUER is not set.")
    return str(chosen)


def log_out_user(
    organization: Organization,
    *,
    initiator: Initiator,
    sub: str = "",
    sid: str = "",
    issuer: str | None = None,
    by_user: AbstractBaseUser | None = None,
    by_application: Application | None = None,
) -> LogoutEvent | None:
    """Log a user out of every application holding a session of theirs in ``organization``,
    and out of this project.

    Names the user by ``sub`` (every session of that subject at ``issuer``) or ``sid`` (one
    IdP session), or both. ``issuer`` defaults to ``OIDC_OP_ISSUER``. ``initiator`` says who
    asked (an admin, an application, ...), ``by_user`` or ``by_application`` which one. Ends
    this project's own sessions of the user there (``LogoutEvent.sessions_ended``), records a
    :class:`~logout_sso.models.LogoutEvent`, marks the tracked sessions ended, and queues the
    back-channel logouts (sent by the Celery workers once the transaction commits). Sessions
    outside ``organization`` are never touched. Returns the event, or ``None`` when the user
    had no session there, here or in an application (nothing is recorded).
    """
    if not sub and not sid:
        raise ValueError("Name the user: sub, sid or both.")
    issuer = _issuer(issuer)
    with transaction.atomic():
        ended_here = session_index.end_sessions(
            issuer, sub=sub, sid=sid, organization_ids=[organization.pk]
        )
        # Read once: whether there is anything to end, and what the fan-out ends.
        tracked = outbox.holders(
            outbox.live_sessions(issuer, sub=sub, sid=sid, organization_ids=[organization.pk])
        )
        if not tracked and not ended_here:
            return None
        initiated_by = {"initiated_by_user": by_user, "initiated_by_application": by_application}
        return outbox.record_logout(
            initiator=Initiator(initiator),
            issuer=issuer,
            sub=sub,
            sid=sid,
            organization=organization,
            sessions=tracked,
            sessions_ended=ended_here,
            **{field: value for field, value in initiated_by.items() if value is not None},
        )


def log_out_users_by_email(
    organization: Organization,
    email: str,
    *,
    initiator: Initiator,
    by_user: AbstractBaseUser | None = None,
) -> list[LogoutEvent]:
    """:func:`log_out_user` for every user whose sessions in ``organization`` were registered
    with ``email`` (compared without regard to case); one event each."""
    users = (
        TrackedSession.objects.live()
        .filter(organization=organization, email__iexact=email)
        .values_list("issuer", "sub")
        .distinct()
        .order_by("issuer", "sub")
    )
    events = [
        log_out_user(organization, initiator=initiator, issuer=issuer, sub=sub, by_user=by_user)
        for issuer, sub in users
    ]
    return [event for event in events if event is not None]


def log_out_organization(
    organization: Organization, *, by_user: AbstractBaseUser | None = None
) -> OrganizationLogoutJob:
    """Start logging every user of ``organization`` out of every application and of this
    project: records an :class:`~logout_sso.models.OrganizationLogoutJob` and returns it at
    once, whatever the organization's size. Celery workers run it, a batch of users at a time
    (one event per user, as an admin's logout; see :func:`organization_logout_progress`)."""
    return jobs.start(organization, by_user=by_user)


def organization_logout_progress(job: OrganizationLogoutJob) -> LogoutProgress:
    """Where an organization-wide logout stands: users done out of the total, and its
    deliveries delivered, failed and pending (``finished`` once none is pending)."""
    job.refresh_from_db()
    return progress.of_job(job)


def end_local_sessions(
    *,
    issuer: str | None = None,
    sub: str = "",
    sid: str = "",
    organizations: Sequence[Organization] | None = None,
) -> int:
    """End this project's own Django sessions of a user: of IdP session ``sid``, or every
    session of ``sub`` at ``issuer`` (default ``OIDC_OP_ISSUER``), in those organizations only
    when given. Returns how many were ended (whatever the session engine); no event is
    recorded and no application is told."""
    if not sub and not sid:
        raise ValueError("Name the user: sub, sid or both.")
    scope = None if organizations is None else [organization.pk for organization in organizations]
    return session_index.end_sessions(_issuer(issuer), sub=sub, sid=sid, organization_ids=scope)


def retry_failed_deliveries(
    events: QuerySet[LogoutEvent], *, application: Application | None = None
) -> int:
    """Send the events' failed back-channel logouts again (after the application's problem is
    fixed), only those to ``application`` when given; returns how many were queued."""
    return outbox.retry_failed(events, application)


def send_due_deliveries() -> int:
    """Send, in this process, every back-channel logout whose time has come (what the
    ``logout_sso.send_due_deliveries`` task does on a schedule); returns how many were
    delivered. Needs the ``[hub]`` extra."""
    from logout_sso.hub.internal import sender  # libcurl: only where the hub sends

    return sender.send_due()


def purge(*, dry_run: bool = False) -> PurgeReport:
    """Delete what is past its retention (``SESSION_RETENTION_DAYS``, ``EVENT_RETENTION_DAYS``,
    index entries of sessions that are gone); ``dry_run`` counts without deleting."""
    return retention.purge(dry_run=dry_run)


def add_application(
    *,
    name: str,
    client_id: str,
    backchannel_logout_uri: str,
    organization_slugs: Sequence[str],
    requires_sid: bool = False,
) -> tuple[Application, str]:
    """Register an application with the hub; returns it and its API credential, in clear, for
    the only time. Raises ``RegistrationError`` (with a one-line reason) for bad input."""
    return applications.add_application(
        name=name,
        client_id=client_id,
        backchannel_logout_uri=backchannel_logout_uri,
        organization_slugs=organization_slugs,
        requires_sid=requires_sid,
    )


def rotate_application_credential(client_id: str) -> tuple[Application, str]:
    """Issue the application a new API credential (the old one stops working); returns it in
    clear, for the only time."""
    return applications.rotate_application_credential(client_id)


def disable_application(client_id: str) -> Application:
    """Stop the application's API access and its deliveries."""
    return applications.disable_application(client_id)


def register_session_at_hub(
    session_key: str, *, organization: Organization, issuer: str, sub: str, sid: str = ""
) -> dict[str, Any]:
    """Client mode: tell the hub (``HUB_URL``, ``HUB_API_CREDENTIAL``) about a Django session of
    this project, now; returns the hub's answer. Raises :class:`~logout_sso.client.HubError`.
    Sign-ins through logout_sso's views are registered by a Celery task already."""
    registration = hub_membership.registration(
        session_key, get_policy(organization.pk), issuer=issuer, sub=sub, sid=sid
    )
    return hub_membership.hub_client().register_session(**registration)


def remove_session_at_hub(session_key: str) -> bool:
    """Client mode: tell the hub a Django session of this project ended; False when the hub
    did not know it. Raises :class:`~logout_sso.client.HubError`."""
    return hub_membership.hub_client().remove_session(hub_membership.hub_session_id(session_key))


def sync_policies_from_hub(*, force: bool = False) -> SyncReport:
    """Client mode: make this project's organizations and policies those the hub serves to this
    application, now (what the ``logout_sso.sync_policies`` task does every
    ``POLICY_SYNC_INTERVAL``). Asks with the version held (``If-None-Match``); ``force``: fetch
    and apply the hub's whole answer even when its version has not changed. Never raises for
    the hub's sake: a hub that cannot be reached, refuses, or sends what cannot be applied
    leaves everything as it was, and the report's ``error`` says why (recorded for the admin's
    banner and ``manage.py check``). Raises ``ImproperlyConfigured`` outside client mode."""
    return policy_mirror.sync(force=force)
