"""Shared Signals poll delivery (RFC 8936): this project fetches the SETs of the transmitters
that only offer poll, and acknowledges them.

Each enabled Shared Signals source whose delivery method is poll, with the poll endpoint its
transmitter gave (``stream_endpoint_url``), is asked for at most ``MAX_EVENTS`` SETs at a time
(``returnImmediately``: no long polling, the task runs on a schedule), with its management
credential as bearer token. Each SET goes through what a pushed one does
(:func:`~logout_sso.inbound.internal.security_events.receive`); the next request acknowledges
those accepted (``ack``) and reports those refused (``setErrs``, RFC 8936 section 2.4.4). A SET
received before (its jti recorded: the acknowledgement was lost) is acknowledged again. A SET
whose keys cannot be fetched is neither: the transmitter sends it again. The requests are
the transmitter's (:func:`logout_sso.inbound.internal.transmitter.request`: public addresses
only unless ``DELIVERY_ALLOW_PRIVATE_ADDRESSES``, 10 s, 256 KiB, no redirect). The SETs'
``aud`` is the source's ``audience``, else the push endpoint's URL at ``PUBLIC_URL``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from logout_sso.inbound.internal import security_events, transmitter
from logout_sso.inbound.internal.answers import set_error
from logout_sso.inbound.internal.endpoints import NoPublicURL
from logout_sso.inbound.internal.sources import audience
from logout_sso.inbound.internal.tokens import Refusal, SignalRefused
from logout_sso.internal import metrics, secret_box
from logout_sso.internal.discovery import ProviderError
from logout_sso.internal.untrusted import printable
from logout_sso.internal.validators import is_plain_text
from logout_sso.models import SignalSource
from logout_sso.models.signal_sources import DeliveryMethod, SignalKind

logger = logging.getLogger(__name__)

#: SETs asked for per request, and requests per source and run (then the next run goes on).
MAX_EVENTS = 25
MAX_ROUNDS = 20
MAX_DESCRIPTION = 200


class PollError(Exception):
    """The transmitter's poll endpoint did not answer as RFC 8936 says."""


@dataclass
class Batch:
    """What the next request reports of the SETs processed since the last one."""

    ack: list[str] = field(default_factory=list)
    errors: dict[str, dict[str, str]] = field(default_factory=dict)

    def request(self, max_events: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ack": self.ack,
            "maxEvents": max_events,
            "returnImmediately": True,
        }
        if self.errors:
            body["setErrs"] = self.errors
        return body

    def __bool__(self) -> bool:
        return bool(self.ack or self.errors)


@dataclass
class PollReport:
    """What one run did for one source."""

    received: int = 0
    refused: int = 0
    error: str = ""


def _post(source: SignalSource, body: dict[str, Any]) -> dict[str, Any]:
    """POST ``body`` to the source's poll endpoint; its JSON answer."""
    try:
        token = source.management_token
    except secret_box.SecretUnreadable as exc:  # SECRET_KEY changed without its fallback.
        raise PollError(str(exc)) from exc
    if not token or not is_plain_text(token):  # A line break would start another header.
        raise PollError("The source's management credential is empty or not printable text.")
    url = source.stream_endpoint_url
    try:
        answer = transmitter.request(source, "POST", url, operation="Polling", payload=body)
        document = transmitter.json_object(answer, source, url, "Polling")
    except transmitter.TransmitterError as exc:
        raise PollError(str(exc)) from exc
    if not isinstance(document.get("sets", {}), dict):
        raise PollError('The poll endpoint\'s answer has no "sets" object.')
    return document


def _process(
    source: SignalSource, expected: str, sets: dict[str, Any], batch: Batch, report: PollReport
) -> None:
    """Receive each SET (its ``aud`` ``expected``), noting in ``batch`` what to acknowledge or
    report."""
    for jti, token in sets.items():
        try:
            if not isinstance(token, str):
                raise SignalRefused("Not a SET.", Refusal.MALFORMED)
            security_events.receive(token, [source], lambda _source: expected)
        except SignalRefused as exc:
            if exc.reason == Refusal.REPLAYED:  # Accepted before; the ack was lost.
                batch.ack.append(jti)
                continue
            report.refused += 1
            metrics.inbound_signal_received(SignalKind.SHARED_SIGNALS, exc.reason)
            batch.errors[jti] = {
                "err": set_error(exc.reason),
                "description": str(exc)[:MAX_DESCRIPTION],
            }
            logger.info(
                "Polled SET refused (source %s): %s", source.pk, printable(str(exc), limit=300)
            )
        except ProviderError as exc:  # Not acknowledged: the transmitter sends it again.
            metrics.inbound_signal_received(SignalKind.SHARED_SIGNALS, Refusal.KEYS_UNAVAILABLE)
            logger.warning(
                "Polled SET left for later (source %s): %s",
                source.pk,
                printable(str(exc), limit=300),
            )
        else:
            report.received += 1
            metrics.inbound_signal_received(SignalKind.SHARED_SIGNALS, None)
            batch.ack.append(jti)


def poll(source: SignalSource) -> PollReport:
    """Fetch, process and acknowledge the source's waiting SETs."""
    report = PollReport()
    batch = Batch()
    try:
        try:
            expected = audience(source)
        except NoPublicURL as exc:
            raise PollError(f"{exc} It is the SETs' audience when the source names none.") from exc
        for _ in range(MAX_ROUNDS):
            answer = _post(source, batch.request(MAX_EVENTS))
            batch = Batch()
            _process(source, expected, answer.get("sets", {}), batch, report)
            if answer.get("moreAvailable") is not True:
                break
        if batch:  # Acknowledge only (RFC 8936 section 2.4.3).
            _post(source, batch.request(0))
    except PollError as exc:
        report.error = printable(str(exc), limit=300)
        logger.warning("Polling source %s failed: %s", source.pk, report.error)
    return report


def polled_sources() -> Iterator[SignalSource]:
    return (
        SignalSource.objects.select_related("organization")
        .filter(
            kind=SignalKind.SHARED_SIGNALS,
            delivery_method=DeliveryMethod.POLL,
            enabled=True,
        )
        .exclude(stream_endpoint_url="")
        .iterator()
    )


def poll_all() -> dict[str, int]:
    """Poll every source that takes poll delivery; the totals."""
    totals = {"sources": 0, "received": 0, "refused": 0, "failed": 0}
    for source in polled_sources():
        report = poll(source)
        totals["sources"] += 1
        totals["received"] += report.received
        totals["refused"] += report.refused
        totals["failed"] += bool(report.error)
    return totals
