"""Inbound signals as the metrics count them: by kind, accepted or refused with a reason code
from a bounded list, read at ``/metrics/`` as Prometheus would (before and after: the counters
are the test process's, shared by every test)."""

from __future__ import annotations

from logout_sso.inbound.internal.tokens import Refusal
from tests.inbound.conftest import alice, ssf_audience, ul_audience
from tests.metrics import scrape
from tests.signal_senders import FORGER_KEY, SESSION_REVOKED

SIGNALS = "logout_sso_inbound_signals_total"


def counted(reader, kind: str, outcome: str, reason: str = "") -> float:
    return scrape(reader).value(SIGNALS, kind=kind, outcome=outcome, reason=reason)


def test_every_kind_and_reason_is_at_zero_before_its_first_signal(metrics_reader):
    exposition = scrape(metrics_reader)

    for kind in ("universal_logout", "shared_signals"):
        assert exposition.value(SIGNALS, kind=kind, outcome="accepted", reason="") >= 0
        for refusal in Refusal:
            assert (
                exposition.value(SIGNALS, kind=kind, outcome="refused", reason=refusal.value) >= 0
            )


def test_universal_logout_accepted_and_refused(tenants, queued, metrics_reader):
    before = (
        counted(metrics_reader, "universal_logout", "accepted"),
        counted(metrics_reader, "universal_logout", "refused", "invalid_signature"),
        counted(metrics_reader, "universal_logout", "refused", "user_not_found"),
    )
    tenants.revoke(tenants.acme_idp.bearer(ul_audience()), alice())
    tenants.revoke(tenants.acme_idp.bearer(ul_audience(), key=FORGER_KEY), alice())
    tenants.revoke(tenants.acme_idp.bearer(ul_audience()), {"format": "opaque", "id": "nobody"})

    after = (
        counted(metrics_reader, "universal_logout", "accepted"),
        counted(metrics_reader, "universal_logout", "refused", "invalid_signature"),
        counted(metrics_reader, "universal_logout", "refused", "user_not_found"),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]


def test_shared_signals_accepted_and_replayed(tenants, queued, metrics_reader):
    before = (
        counted(metrics_reader, "shared_signals", "accepted"),
        counted(metrics_reader, "shared_signals", "refused", "replayed"),
    )
    token = tenants.acme_idp.security_event(ssf_audience(), {SESSION_REVOKED: {}}, alice())
    tenants.push(token)
    tenants.push(token)

    after = (
        counted(metrics_reader, "shared_signals", "accepted"),
        counted(metrics_reader, "shared_signals", "refused", "replayed"),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1]
