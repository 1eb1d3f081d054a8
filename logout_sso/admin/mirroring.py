"""Client mode in the admin: organizations mirrored from the hub are managed there.

Their identity and the policy's mirrored fields are read-only for everyone here, superusers
included, with a link to the organization's page at the hub (the next sync would undo an edit
made here anyway); what stays this project's own (its admins, the delivery retry settings)
stays editable. Organizations added here are local and fully editable. When the copy is stale,
the organization pages say since when and why.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.http import HttpRequest
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from logout_sso.models import Organization
from logout_sso.rp.internal import hub_membership
from logout_sso.rp.internal.hub_answer import ORGANIZATION_FIELDS, POLICY_FIELDS
from logout_sso.rp.internal.mirror_state import mirror_state, stale_after

#: The organization's fields the hub decides, as the admin's form has them.
MIRRORED_FIELDS = tuple(name for name in ORGANIZATION_FIELDS if name != "hub_admin_url")
#: The policy's fields the hub decides.
MIRRORED_POLICY_FIELDS = POLICY_FIELDS


def is_mirrored(organization: object) -> bool:
    """Whether ``organization`` (an admin page's object, or None) is managed at the hub."""
    return isinstance(organization, Organization) and organization.is_mirrored


def managed_at_hub(organization: Organization) -> SafeString:
    """The note shown on a mirrored organization's page, linking to its page at the hub."""
    if not organization.hub_admin_url:
        return format_html("{}", _("Managed at the hub."))
    return format_html(
        '{} <a href="{}">{}</a>',
        _("Managed at the hub:"),
        organization.hub_admin_url,
        _("edit it there"),
    )


def _moment(moment: datetime | None) -> str:
    if moment is None:
        return _("never")
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def warn_if_stale(request: HttpRequest) -> None:
    """In client mode, a warning on the page when the copy of the hub's organizations and
    policies is stale: since when, and why the last attempt failed."""
    if request.method != "GET" or not hub_membership.enabled():
        return
    state = mirror_state()
    if not state.stale:
        return
    text = _(
        "The organizations and policies mirrored from the hub were last confirmed %(confirmed)s "
        "(they count as stale after %(threshold)d seconds). The last known ones stay in force."
    ) % {
        "confirmed": _moment(state.synced_at),
        "threshold": int(stale_after().total_seconds()),
    }
    if state.last_error:
        text += " " + _("Last attempt %(attempted)s: %(error)s") % {
            "attempted": _moment(state.attempted_at),
            "error": state.last_error,
        }
    messages.warning(request, text)
