"""A Shared Signals source's stream at its transmitter (SSF 1.0, section 8): created or updated
with this project's delivery and the events wanted, its status read, a verification event
requested, deleted.

Each operation records what the transmitter said on the source: ``stream_checked_at`` when it
answered, ``stream_error`` cleared on success or set to the reason of a failure (which is also
raised, as :class:`~logout_sso.inbound.internal.transmitter.TransmitterError`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.utils import timezone

from logout_sso.inbound.internal.transmitter import (
    TransmitterConfiguration,
    TransmitterError,
    configuration,
    json_object,
    quoted,
    request,
)
from logout_sso.internal.validators import validate_secure_url
from logout_sso.models import SignalSource
from logout_sso.models.signal_sources import DeliveryMethod, SignalKind

__all__ = [
    "OPERATIONS",
    "Report",
    "check_status",
    "delete_stream",
    "fetch_configuration",
    "request_verification",
    "save_stream",
]

STREAM_STATUSES = frozenset({"enabled", "paused", "disabled"})
#: As long as ``SignalSource.stream_id`` and ``stream_endpoint_url`` may be.
MAX_STREAM_ID = 255
MAX_URL = 2000
CLEARED_ON_DELETE = ("stream_id", "stream_status", "stream_endpoint_url", "verification_state")


@dataclass(frozen=True)
class Report:
    """What an operation did, said in a sentence, with what deserves a warning and the
    transmitter's answer (for ``--json``)."""

    message: str
    warnings: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)


@contextmanager
def _recording(source: SignalSource) -> Iterator[None]:
    """Record a failure on the source (and when the transmitter answered), then let it rise."""
    try:
        yield
    except TransmitterError as exc:
        source.stream_error = str(exc)
        fields = ["stream_error"]
        if exc.status is not None:
            source.stream_checked_at = timezone.now()
            fields.append("stream_checked_at")
        source.save(update_fields=fields)
        raise


def _succeeded(source: SignalSource, *fields: str) -> None:
    source.stream_error = ""
    source.stream_checked_at = timezone.now()
    source.save(update_fields=["stream_error", "stream_checked_at", *fields])


def _shared_signals(source: SignalSource) -> None:
    if source.kind != SignalKind.SHARED_SIGNALS:
        raise TransmitterError(f"{source} is a Universal Logout source: it has no stream.")


def _endpoint(found: TransmitterConfiguration, name: str) -> str:
    url: str = getattr(found, name)
    if not url:
        raise TransmitterError(f"The transmitter {found.issuer} has no {name}.")
    return url


def _stream_id(source: SignalSource) -> str:
    if not source.stream_id:
        raise TransmitterError(f"{source} has no stream yet: create it first.")
    return source.stream_id


def _with_stream_id(url: str, stream_id: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode({'stream_id': stream_id})}"


def fetch_configuration(source: SignalSource) -> Report:
    """Fetch the transmitter's configuration again (the cached one is replaced)."""
    _shared_signals(source)
    with _recording(source):
        found = configuration(source, refresh=True)
    warnings = [
        f"The transmitter has no {name}."
        for name in ("configuration_endpoint", "status_endpoint")
        if not getattr(found, name)
    ]
    if found.delivery_methods_supported and (
        source.delivery_method not in found.delivery_methods_supported
    ):
        warnings.append(
            f"The transmitter does not list the source's delivery method {source.delivery_method} "
            f"among {', '.join(found.delivery_methods_supported)}."
        )
    methods = ", ".join(found.delivery_methods_supported) or "none listed"
    return Report(
        f"Transmitter {found.issuer}: delivery methods {methods}; keys at "
        f"{found.jwks_uri or 'none'}.",
        tuple(warnings),
        found.as_dict(),
    )


def save_stream(source: SignalSource, events_url: str | None) -> Report:
    """Create the source's stream, or update it when it has one (PATCH of the delivery and the
    events requested): push to ``events_url`` (this organization's endpoint), or poll where the
    transmitter says. A stream the transmitter no longer knows (404) is created again; when it
    allows one stream per receiver (409), the existing one is taken over and updated."""
    _shared_signals(source)
    with _recording(source):
        found = configuration(source)
        endpoint = _endpoint(found, "configuration_endpoint")
        delivery: dict[str, str] = {"method": source.delivery_method}
        if source.delivery_method == DeliveryMethod.PUSH:
            if not events_url:
                raise TransmitterError("A push stream needs this project's public address.")
            delivery["endpoint_url"] = events_url
        wanted = {
            "delivery": delivery,
            "events_requested": list(source.events_requested),
            "description": f"logout_sso: {source.organization.name} ({source.name})",
        }
        stream, created = _created_or_updated(source, endpoint, wanted)
        warnings = _checked(source, found, stream, delivery, events_url)
        _succeeded(source, "stream_id", "stream_endpoint_url")
    status = None
    if found.status_endpoint:
        try:  # The stream is there: a status that cannot be read is a warning.
            status = _read_status(source, found)
        except TransmitterError as exc:
            warnings.append(str(exc))
    done = "created" if created else "updated"
    text = f"Stream {source.stream_id} {done}" + (f", {status}." if status else ".")
    return Report(text, tuple(warnings), {"stream": stream, "status": source.stream_status})


def _created_or_updated(
    source: SignalSource, endpoint: str, wanted: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """The stream's configuration as the transmitter answered it, and whether it is new."""
    if source.stream_id:
        try:
            payload = {"stream_id": source.stream_id, **wanted}
            answer = request(
                source, "PATCH", endpoint, operation="Updating the stream", payload=payload
            )
            return json_object(answer, source, endpoint, "Updating the stream"), False
        except TransmitterError as exc:
            if exc.status != 404:
                raise
    try:
        answer = request(source, "POST", endpoint, operation="Creating the stream", payload=wanted)
        return json_object(answer, source, endpoint, "Creating the stream"), True
    except TransmitterError as exc:
        if exc.status != 409:
            raise
    existing = _only_stream(source, endpoint)
    payload = {"stream_id": existing, **wanted}
    answer = request(source, "PATCH", endpoint, operation="Updating the stream", payload=payload)
    return json_object(answer, source, endpoint, "Updating the stream"), False


def _only_stream(source: SignalSource, endpoint: str) -> str:
    """The id of the one stream the transmitter has for this receiver (after a 409)."""
    answer = request(source, "GET", endpoint, operation="Reading the existing stream")
    try:
        streams = answer.json()
    except ValueError:
        streams = None
    if isinstance(streams, dict):
        streams = [streams]
    ids = [s.get("stream_id") for s in streams or [] if isinstance(s, dict)]
    if len(ids) != 1 or not isinstance(ids[0], str) or not ids[0]:
        raise TransmitterError(
            f"The transmitter refused a new stream (409 Conflict) and {endpoint} does not list "
            "exactly one existing stream to update.",
            answer.status,
        )
    return ids[0]


def _checked(
    source: SignalSource,
    found: TransmitterConfiguration,
    stream: dict[str, Any],
    delivery: dict[str, str],
    events_url: str | None,
) -> list[str]:
    """Check the stream the transmitter answered (SSF 1.0, 8.1.1.1), keep its id and poll
    endpoint on the source; return the warnings."""
    stream_id = stream.get("stream_id")
    if not isinstance(stream_id, str) or not stream_id or len(stream_id) > MAX_STREAM_ID:
        raise TransmitterError("The transmitter's stream has no valid stream_id.", 200)
    if not stream_id.isprintable():
        raise TransmitterError(f"The stream id {quoted(stream_id, source)} is not printable.", 200)
    if stream.get("iss") != found.issuer:
        raise TransmitterError(
            f"The stream's iss {quoted(str(stream.get('iss')), source)} is not the transmitter's "
            f"issuer {found.issuer}.",
            200,
        )
    answered: dict[str, Any] = stream.get("delivery") or {}
    if not isinstance(answered, dict):
        raise TransmitterError("The stream's delivery is not a JSON object.", 200)
    if answered.get("method", delivery["method"]) != delivery["method"]:
        raise TransmitterError(
            f"The transmitter set the delivery method {quoted(str(answered['method']), source)}, "
            f"not {delivery['method']}.",
            200,
        )
    source.stream_id = stream_id
    source.stream_endpoint_url = _poll_url(source, answered)
    return [
        *_delivery_warnings(source, answered, delivery),
        *_event_warnings(source, stream),
        *_audience_warnings(source, stream, events_url),
    ]


def _poll_url(source: SignalSource, answered: dict[str, Any]) -> str:
    if source.delivery_method != DeliveryMethod.POLL:
        return ""
    url = answered.get("endpoint_url")
    try:
        if not isinstance(url, str) or len(url) > MAX_URL:
            raise ValidationError("not a URL")
        validate_secure_url(url)
    except ValidationError as exc:
        raise TransmitterError(
            f"The transmitter gave no valid poll endpoint_url: {' '.join(exc.messages)}", 200
        ) from exc
    return url


def _delivery_warnings(
    source: SignalSource, answered: dict[str, Any], delivery: dict[str, str]
) -> list[str]:
    url = answered.get("endpoint_url")
    if delivery["method"] != DeliveryMethod.PUSH or url in (None, delivery["endpoint_url"]):
        return []
    return [
        f"The transmitter pushes to {quoted(str(url), source)}, not to {delivery['endpoint_url']}."
    ]


def _event_warnings(source: SignalSource, stream: dict[str, Any]) -> list[str]:
    delivered = stream.get("events_delivered")
    if not isinstance(delivered, list):
        return []
    missing = [event for event in source.events_requested if event not in delivered]
    if not missing:
        return []
    return [f"The transmitter does not deliver {', '.join(missing)}."]


def _audience_warnings(
    source: SignalSource, stream: dict[str, Any], events_url: str | None
) -> list[str]:
    """The events' ``aud`` must be what the source expects, or they will be refused."""
    expected = source.audience or events_url
    audience = stream.get("aud")
    named = audience if isinstance(audience, list) else [audience]
    if not expected or audience is None or expected in named:
        return []
    shown = ", ".join(quoted(str(value), source) for value in named)
    return [
        f"The stream's events will name the audience {shown}, and this source expects "
        f"{expected}: set the source's audience to the transmitter's, or its events are refused."
    ]


def check_status(source: SignalSource) -> Report:
    """Read the stream's status (enabled, paused, disabled) and the transmitter's reason."""
    _shared_signals(source)
    with _recording(source):
        found = configuration(source)
        _endpoint(found, "status_endpoint")
    text = _read_status(source, found)
    return Report(f"Stream {source.stream_id}: {text}.", (), {"status": source.stream_status})


def _read_status(source: SignalSource, found: TransmitterConfiguration) -> str:
    with _recording(source):
        url = _with_stream_id(_endpoint(found, "status_endpoint"), _stream_id(source))
        answer = request(source, "GET", url, operation="Reading the stream's status")
        document = json_object(answer, source, url, "Reading the stream's status")
        status = document.get("status")
        if status not in STREAM_STATUSES:
            raise TransmitterError(
                f"The stream's status {quoted(str(status), source)} is none of "
                f"{', '.join(sorted(STREAM_STATUSES))}.",
                answer.status,
            )
        source.stream_status = status
        _succeeded(source, "stream_status")
    reason = document.get("reason")
    return status if not isinstance(reason, str) else f"{status} ({quoted(reason, source)})"


def request_verification(source: SignalSource) -> Report:
    """Ask the transmitter for a verification event with a new random ``state``, kept on the
    source first (the event may arrive before the transmitter has answered)."""
    _shared_signals(source)
    with _recording(source):
        found = configuration(source)
        endpoint = _endpoint(found, "verification_endpoint")
        stream_id = _stream_id(source)
        source.verification_state = secrets.token_urlsafe(32)
        source.save(update_fields=["verification_state"])
        request(
            source,
            "POST",
            endpoint,
            operation="Requesting a verification event",
            payload={"stream_id": stream_id, "state": source.verification_state},
        )
        _succeeded(source)
    return Report(
        f"Verification event requested on stream {stream_id}: its arrival is recorded as "
        "the stream's verification."
    )


def delete_stream(source: SignalSource) -> Report:
    """Delete the stream at the transmitter (one it no longer knows counts as deleted)."""
    _shared_signals(source)
    with _recording(source):
        found = configuration(source)
        stream_id = _stream_id(source)
        url = _with_stream_id(_endpoint(found, "configuration_endpoint"), stream_id)
        try:
            request(source, "DELETE", url, operation="Deleting the stream")
        except TransmitterError as exc:
            if exc.status != 404:
                raise
        for name in CLEARED_ON_DELETE:
            setattr(source, name, "")
        _succeeded(source, *CLEARED_ON_DELETE)
    return Report(f"Stream {stream_id} deleted.")


#: The operations the admin and ``logout_sso_signals`` offer, by name; each takes the source
#: and this organization's events endpoint URL (None when unknown).
OPERATIONS: dict[str, Callable[[SignalSource, str | None], Report]] = {
    "configuration": lambda source, events_url: fetch_configuration(source),
    "stream": save_stream,
    "status": lambda source, events_url: check_status(source),
    "verify": lambda source, events_url: request_verification(source),
    "delete": lambda source, events_url: delete_stream(source),
}
