"""What a sender reads of the deliveries it holds: the dozen values sending and recording need,
as plain records.

Read as model instances (each delivery with its application and its event), a batch of 100
costs about 2 ms more on PostgreSQL, on the way to the first POST of a logout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from logout_sso.models import Delivery
from logout_sso.models.events import DeliveryState

COLUMNS = (
    "pk",
    "claim",
    "attempts",
    "next_attempt_at",
    "sid",
    "event_id",
    "event__sid",
    "event__sub",
    "event__created_at",
    "event__organization_id",
    "application__name",
    "application__client_id",
    "application__backchannel_logout_uri",
    "application__enabled",
)


@dataclass(frozen=True)
class Outgoing:
    """A pending delivery held by a sender."""

    pk: int
    claim: str
    attempts: int
    #: While it is held, when the claim's lease ends.
    next_attempt_at: datetime | None
    #: The sid its logout token names (the delivery's own, else the event's; "" for none).
    token_sid: str
    event_id: int
    sub: str
    event_created_at: datetime
    organization_id: int | None
    application_name: str
    client_id: str
    backchannel_logout_uri: str
    application_enabled: bool


def read(held: QuerySet[Delivery], limit: int) -> list[Outgoing]:
    """The first ``limit`` pending deliveries of ``held``, ready to send."""
    rows = held.filter(state=DeliveryState.PENDING).order_by("pk").values_list(*COLUMNS)
    return [
        Outgoing(
            pk=pk,
            claim=claim,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            token_sid=sid or event_sid,
            event_id=event_id,
            sub=sub,
            event_created_at=created_at,
            organization_id=organization_id,
            application_name=name,
            client_id=client_id,
            backchannel_logout_uri=uri,
            application_enabled=enabled,
        )
        for (
            pk, claim, attempts, next_attempt_at, sid, event_id, event_sid, sub, created_at,
            organization_id, name, client_id, uri, enabled,
        ) in rows[:limit]
    ]  # fmt: skip
