"""The hub's handler of ``logout_recorded``: a logout reaches every application.

Connected by :func:`logout_sso.handlers.connect_hub_handlers` only where this project is a hub.
"""

from __future__ import annotations

from typing import Any

from logout_sso.hub.internal import outbox
from logout_sso.internal.policies import get_policy
from logout_sso.models import LogoutEvent
from logout_sso.models.organizations import SLOMode

__all__ = ["fan_out_for_logout_service"]


def fan_out_for_logout_service(
    sender: type[LogoutEvent], event: LogoutEvent, **kwargs: Any
) -> None:
    """A logout of a user of an organization whose policy is the logout service reaches every
    application holding a session of that user there."""
    # An IdP's back-channel logout names no organization when the hub itself held no session
    # of the user: the organizations are those of the user's sessions in the applications.
    candidates = (
        [event.organization_id]
        if event.organization_id is not None
        else set(outbox.sessions_of(event).values_list("organization_id", flat=True))
    )
    organization_ids = [
        organization_id
        for organization_id in candidates
        if get_policy(organization_id).slo_mode == SLOMode.LOGOUT_SERVICE
    ]
    if organization_ids:
        outbox.fan_out(event, organization_ids)
