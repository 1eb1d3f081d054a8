"""The counters and the histogram of what happens, in prometheus-client's default registry.

Created when this module is first imported (once per process), with every bounded label value
they can take already at zero, so a rate is defined before the first event. Under
prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set when the process
started) each process writes its values to files there, which the view adds up.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Mapping

from prometheus_client import Counter, Histogram

from logout_sso.inbound.internal.tokens import Refusal as SignalRefusal
from logout_sso.models.events import DeliveryState, Initiator
from logout_sso.models.signal_sources import SignalKind
from logout_sso.receiver.internal.tokens import Refusal

#: The ``outcome`` of an attempt that failed and will be tried again.
RETRY = "retry"
ACCEPTED, REFUSED = "accepted", "refused"
#: From a fast application on the same network to the longest retries worth watching.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

LOGOUTS = Counter(
    "logout_sso_logouts",
    "Logout events recorded, by what started them.",
    ["initiator"],
)
DELIVERY_ATTEMPTS = Counter(
    "logout_sso_delivery_attempts",
    "Back-channel logouts sent by the hub, by application and result: delivered, failed (for "
    "good) or retry (another attempt is scheduled).",
    ["application", "outcome"],
)
DELIVERY_LATENCY = Histogram(
    "logout_sso_delivery_latency_seconds",
    "From the logout to the application's acknowledgement, for each delivered back-channel "
    "logout (retries included).",
    ["application"],
    buckets=LATENCY_BUCKETS,
)
BACKCHANNEL_TOKENS = Counter(
    "logout_sso_backchannel_logout_tokens",
    "Back-channel logout tokens received, accepted or refused, by reason (empty when accepted).",
    ["outcome", "reason"],
)
INBOUND_SIGNALS = Counter(
    "logout_sso_inbound_signals",
    "Signals from organizations' identity providers (Universal Logout requests, Shared Signals "
    "events pushed or polled), by kind, accepted or refused, by reason (empty when accepted).",
    ["kind", "outcome", "reason"],
)

for _initiator in Initiator:
    LOGOUTS.labels(_initiator.value)
BACKCHANNEL_TOKENS.labels(ACCEPTED, "")
for _refusal in Refusal:
    BACKCHANNEL_TOKENS.labels(REFUSED, _refusal.value)
for _kind in SignalKind:
    INBOUND_SIGNALS.labels(_kind.value, ACCEPTED, "")
    for _signal_refusal in SignalRefusal:
        INBOUND_SIGNALS.labels(_kind.value, REFUSED, _signal_refusal.value)


def count_logouts(initiator: str, count: int) -> None:
    LOGOUTS.labels(initiator).inc(count)


def count_attempts(results: Iterable[tuple[str, Mapping[str, object]]]) -> None:
    """Each attempt's result, added per (application, outcome): a batch of a hundred costs a
    few increments; each delivered one's latency observed."""
    tally: Tally[tuple[str, str]] = Tally()
    for application, fields in results:
        state = fields.get("state")
        tally[application, RETRY if state is None else str(state)] += 1
        latency_ms = fields.get("latency_ms")
        if state == DeliveryState.DELIVERED and isinstance(latency_ms, int):
            DELIVERY_LATENCY.labels(application).observe(latency_ms / 1000)
    for (application, outcome), count in tally.items():
        DELIVERY_ATTEMPTS.labels(application, outcome).inc(count)


def count_token(refusal: Refusal | None) -> None:
    if refusal is None:
        BACKCHANNEL_TOKENS.labels(ACCEPTED, "").inc()
    else:
        BACKCHANNEL_TOKENS.labels(REFUSED, refusal.value).inc()


def count_signal(kind: str, refusal: SignalRefusal | None) -> None:
    if refusal is None:
        INBOUND_SIGNALS.labels(kind, ACCEPTED, "").inc()
    else:
        INBOUND_SIGNALS.labels(kind, REFUSED, refusal.value).inc()
