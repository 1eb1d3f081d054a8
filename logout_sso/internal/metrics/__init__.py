"""Counting what happens, for the Prometheus metrics (the ``[metrics]`` extra).

The hub's sender, the outbox, the relying party's logout and the back-channel receiver call
these hooks where things happen; they cost nothing and do nothing without prometheus-client.
The counters themselves live in :mod:`.events` (imported on first use, so a project that never
counts never imports prometheus-client), the figures read from the database at scrape time in
:mod:`.state`, and what the view serves in :mod:`.exposition`.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Mapping
from functools import cache, partial
from typing import TYPE_CHECKING

from django.db import transaction

if TYPE_CHECKING:
    from logout_sso.inbound.internal.tokens import Refusal as SignalRefusal
    from logout_sso.receiver.internal.tokens import Refusal

#: Set (before the process starts) to a directory shared by the processes of a host: each
#: writes its counters there and any of them reports the sum (prometheus-client's
#: multiprocess mode).
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


@cache
def enabled() -> bool:
    """Whether prometheus-client is installed (``django-logout-sso[metrics]``)."""
    return importlib.util.find_spec("prometheus_client") is not None


def multiprocess() -> bool:
    """Whether this process runs in prometheus-client's multiprocess mode."""
    return bool(os.environ.get(MULTIPROCESS_DIR))


def logouts_recorded(initiator: str, count: int = 1) -> None:
    """``count`` logout events started by ``initiator`` were written: counted once the
    transaction commits (never a logout rolled back)."""
    if enabled():
        from logout_sso.internal.metrics import events

        transaction.on_commit(partial(events.count_logouts, initiator, count), robust=True)


def delivery_attempts_recorded(results: Iterable[tuple[str, Mapping[str, object]]]) -> None:
    """A batch of back-channel logout attempts was recorded: each ``(application name, the
    delivery's new fields)``, as the sender stored them."""
    if enabled():
        from logout_sso.internal.metrics import events

        events.count_attempts(results)


def backchannel_token_received(refusal: Refusal | None) -> None:
    """A back-channel logout token was accepted (``None``) or refused (why)."""
    if enabled():
        from logout_sso.internal.metrics import events

        events.count_token(refusal)


def inbound_signal_received(kind: str, refusal: SignalRefusal | None) -> None:
    """A signal from an organization's identity provider (``kind``: ``universal_logout`` or
    ``shared_signals``) was accepted (``None``) or refused (why)."""
    if enabled():
        from logout_sso.internal.metrics import events

        events.count_signal(kind, refusal)
