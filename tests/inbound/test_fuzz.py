"""Whatever a sender puts in the headers, the body or the JWT's parts, both endpoints answer
with a 2xx or 4xx status, never a 5xx, and a token that is not valid signs nobody out."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logout_sso.models import LogoutEvent
from tests.inbound.conftest import SSF_PATH, UL_PATH, ssf_audience, ul_audience
from tests.receiver_keys import b64url
from tests.signal_senders import SESSION_REVOKED

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
segment = st.one_of(
    st.text(max_size=40),
    json_values.map(lambda value: b64url(json.dumps(value).encode())),
)


def _mangled(token: str, draw_part: Any, index: int) -> str:
    parts = token.split(".")
    parts[index % 3] = draw_part
    return ".".join(parts)


@FUZZ
@given(
    part=segment,
    index=st.integers(0, 2),
    claims=st.dictionaries(
        st.sampled_from(["iss", "aud", "iat", "exp", "jti", "sub_id", "events"]),
        json_values,
        max_size=3,
    ),
    header=st.dictionaries(st.sampled_from(["alg", "kid", "typ"]), json_values, max_size=2),
    body=st.one_of(
        json_values.map(lambda value: json.dumps(value).encode()), st.binary(max_size=60)
    ),
    scheme=st.sampled_from(["Bearer ", "bearer  ", "Basic ", ""]),
)
def test_universal_logout_never_answers_5xx(
    tenants, queued, part, index, claims, header, body, scheme
):
    token = tenants.acme_idp.bearer(ul_audience(), claims, header)
    if index:
        token = _mangled(token, part, index)
    response = Client().post(
        UL_PATH.format("acme"),
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=scheme + token,
    )
    assert response.status_code < 500, response.content
    if response.status_code != 204:
        assert not LogoutEvent.objects.exists()


@FUZZ
@given(
    part=segment,
    index=st.integers(0, 3),
    claims=st.dictionaries(
        st.sampled_from(["iss", "aud", "iat", "exp", "jti", "sub_id", "events"]),
        json_values,
        max_size=3,
    ),
    header=st.dictionaries(st.sampled_from(["alg", "kid", "typ"]), json_values, max_size=2),
    subject=json_values,
    content_type=st.sampled_from(
        ["application/secevent+jwt", "text/plain", "APPLICATION/SECEVENT+JWT"]
    ),
)
def test_shared_signals_push_never_answers_5xx(
    tenants, queued, part, index, claims, header, subject, content_type
):
    token = tenants.acme_idp.security_event(
        ssf_audience(), {SESSION_REVOKED: {"subject": subject}}, None, claims, header
    )
    if index < 3:
        token = _mangled(token, part, index)
    response = Client().post(SSF_PATH.format("acme"), token, content_type=content_type)
    assert response.status_code < 500, response.content


@FUZZ
@given(subject=json_values)
def test_any_subject_of_a_valid_request_is_never_5xx(tenants, queued, subject):
    token = tenants.acme_idp.bearer(ul_audience())
    response = tenants.revoke(token, subject)
    assert response.status_code in (204, 400, 404), response.content
