"""logout_sso's models: organizations and their policies, applications, sessions, events."""

from logout_sso.models.applications import Application
from logout_sso.models.events import Delivery, LogoutEvent
from logout_sso.models.health import LogoutHealth
from logout_sso.models.jobs import OrganizationLogoutJob
from logout_sso.models.local_sessions import LocalSession
from logout_sso.models.mirror import PolicyMirror
from logout_sso.models.organizations import EmailDomain, LogoutPolicy, Organization
from logout_sso.models.signal_sources import ReceivedSignal, SignalSource
from logout_sso.models.tracked_sessions import TrackedSession

__all__ = [
    "Application",
    "Delivery",
    "EmailDomain",
    "LocalSession",
    "LogoutEvent",
    "LogoutHealth",
    "LogoutPolicy",
    "Organization",
    "OrganizationLogoutJob",
    "PolicyMirror",
    "ReceivedSignal",
    "SignalSource",
    "TrackedSession",
]
