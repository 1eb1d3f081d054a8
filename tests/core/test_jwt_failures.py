"""PyJWT's failures name a refusal reason both the receiver and the inbound signals know."""

from __future__ import annotations

import pytest

from logout_sso.inbound.internal.tokens import Refusal as SignalRefusal
from logout_sso.internal.jwt_failures import PYJWT_FAILURES
from logout_sso.receiver.internal.tokens import Refusal as LogoutTokenRefusal


@pytest.mark.parametrize("refusal", [SignalRefusal, LogoutTokenRefusal])
def test_every_pyjwt_failure_is_a_reason_of_each_refusal(refusal):
    assert {word for _error, word in PYJWT_FAILURES} <= {reason.value for reason in refusal}
