"""Client mode: mirror the organizations and policies this application serves at the hub.

:func:`sync` asks the hub (``GET /sso/api/organizations/``) with the version it holds
(``If-None-Match``): "not modified" costs the hub three queries and this project one update of
the record. A new answer is validated (:mod:`~logout_sso.rp.internal.hub_answer`), then applied
in one transaction (:mod:`~logout_sso.rp.internal.mirror_apply`); the policies' cache entries
are dropped by the models' ``post_save`` handlers, so the request path reads the new policy from
the shared cache at its next request. Every attempt is recorded
(:mod:`~logout_sso.rp.internal.mirror_state`); a failure leaves the last known policies in
force.

It always asks: the period is the caller's (Celery beat every ``POLICY_SYNC_INTERVAL``, or the
``logout_sso_sync`` command), and the ETag makes asking cheap. ``force`` leaves the ETag out,
so the hub's full answer is applied again even when the hub's version has not changed: for a
copy changed here by other means than the admin (a restored backup, a script).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from logout_sso.client import HubError
from logout_sso.conf import app_settings
from logout_sso.models import Organization, PolicyMirror
from logout_sso.rp.internal import hub_membership, mirror_apply, mirror_state
from logout_sso.rp.internal.hub_answer import InvalidAnswer, parse


@dataclass(frozen=True)
class SyncReport:
    """What one synchronization with the hub did."""

    #: Organizations created, updated (adopted ones included), removed, left as they were.
    created: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    #: The hub said nothing changed since the version held here (304).
    not_modified: bool = False
    #: Why the synchronization failed (nothing was applied); "" when it succeeded.
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sync(*, force: bool = False) -> SyncReport:
    """Bring the mirrored organizations and policies up to the hub's; see the module's doc.
    Raises ``ImproperlyConfigured`` outside client mode."""
    client = hub_membership.hub_client()
    hub_url = app_settings.HUB_URL or ""
    attempted_at = timezone.now()
    mirror, _created = PolicyMirror.objects.get_or_create(hub_url=hub_url)
    try:
        answer = client.organizations("" if force else mirror.etag)
        if answer is None:
            mirror_state.record_success(hub_url, mirror.etag, attempted_at)
            mirrored = Organization.objects.exclude(hub_id=None).count()
            return SyncReport(unchanged=mirrored, not_modified=True)
        etag, items = answer
        organizations = parse(items)
        with transaction.atomic():
            # One synchronization applies at a time; the next one finds this one's work done.
            PolicyMirror.objects.select_for_update().filter(pk=mirror.pk).first()
            applied = mirror_apply.apply(organizations)
            mirror_state.record_success(hub_url, etag, attempted_at)
    except HubError as exc:
        reason = f"the hub answered {exc}" if exc.status else f"unreachable: {exc.description}"
        return _failed(hub_url, reason, attempted_at)
    except (InvalidAnswer, mirror_apply.MirrorConflict) as exc:
        return _failed(hub_url, f"the hub's answer cannot be applied: {exc}", attempted_at)
    except IntegrityError as exc:  # Changed here meanwhile: the next attempt sees it.
        return _failed(hub_url, f"a concurrent change: {exc}", attempted_at)
    return SyncReport(**asdict(applied))


def _failed(hub_url: str, reason: str, attempted_at: datetime) -> SyncReport:
    return SyncReport(error=mirror_state.record_failure(hub_url, reason, attempted_at))
