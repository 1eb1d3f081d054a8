"""Hostile input to the hub's session API (``/sso/api/``), the back-channel logout receiver and
the login views: never a 5xx.

The property tests send generated requests (valid shapes with hostile values: NUL, lone
surrogates, control and bidi characters, very long strings, wrong types, nested values, huge and
negative numbers, out-of-range times, other tenants' organizations; raw bodies that are not
UTF-8, nested thousands deep, not objects, of other content types and charsets; hostile paths,
ids, query strings and credentials). Each one holds, whatever the database (SQLite, PostgreSQL):

- the status is below 500 (an exception that escapes the view is a 500 under a real server);
- under ``/sso/api/`` and at the receiver, every error is JSON ``{"error", "error_description"}``
  (``Content-Type: application/json``); the login views answer with their error page;
- nothing ends that should not: another tenant's sessions stay live, a logout ends only sessions
  of the reported user or IdP session, and a refused logout token ends nothing.

Each example is rolled back (:func:`example_of_its_own`). ``test_zz_requests_per_run`` checks
that one run sends at least :data:`MIN_REQUESTS` generated requests to the API and the receiver.
The plain tests at the end are the named cases of the issue, one each.
"""

from __future__ import annotations

import functools
import itertools
import json
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client, override_settings
from django.utils import timezone
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from pytest_django.fixtures import Settings as SettingsWrapper

from logout_sso import tasks
from logout_sso.internal.session_index import index_session
from logout_sso.models import EmailDomain, LocalSession, LogoutEvent, Organization, TrackedSession
from tests.hub_receivers import IDP_ISSUER, Tenants, track_session
from tests.receiver_keys import AUDIENCE, ED25519_KEY, EVENT, KeyServer

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response


pytestmark = pytest.mark.usefixtures("hub_settings")

API = "/sso/api/"
RECEIVER = "/sso/backchannel-logout/"
LOGIN = "/sso/login/"
CALLBACK = "/sso/callback/"
FORM = "application/x-www-form-urlencoded"
AUTHORIZE = "https://idp.example.com/authorize"
MAX_BODY_BYTES = 16 * 1024

#: Generated requests per run (the property tests', not the plain tests'), by area ("api",
#: "receiver", "rp"), counted as they are sent.
SENT: Counter[str] = Counter()
#: Whether a property test is running (its requests are counted).
GENERATING = [False]
#: Responses per run, by route and status: a full run must have reached each success too.
STATUSES: Counter[tuple[str, int]] = Counter()
#: The property tests that ran all their examples without a failure.
COMPLETED: set[str] = set()
#: At least this many generated requests to the API and the receiver per run.
MIN_REQUESTS = 10_000


def fuzz(max_examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Hypothesis settings for one property test (above its ``@given``); the test is recorded
    in :data:`COMPLETED` once every example passed, so that :func:`test_zz_requests_per_run`
    knows the count is a full run's."""
    hypothesis_settings = settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=False,
        # No explain phase: tracing every line Django runs makes each failure take minutes.
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )

    def decorate(test: Callable[..., None]) -> Callable[..., None]:
        configured = hypothesis_settings(test)

        @functools.wraps(configured)
        def run(*args: Any, **kwargs: Any) -> None:
            GENERATING[0] = True
            try:
                configured(*args, **kwargs)
            finally:
                GENERATING[0] = False
            COMPLETED.add(test.__name__)

        return run

    return decorate


PROPERTY_TESTS = {
    "test_registering_hostile_sessions",
    "test_reporting_hostile_logouts",
    "test_hostile_raw_bodies_to_the_api",
    "test_hostile_paths_under_the_api",
    "test_hostile_credentials",
    "test_hostile_bodies_to_the_receiver",
    "test_signed_logout_tokens_with_hostile_claims",
    "test_hostile_login_query_strings",
    "test_hostile_callback_query_strings",
}


# --- sending and checking -----------------------------------------------------------------------


def route(method: str, path: str) -> str:
    """``method`` and the URL pattern ``path`` is for (``?`` for none of logout_sso's)."""
    for prefix, pattern in [
        (f"{API}sessions/", "api/sessions/<id>/"),
        (f"{API}logouts/", "api/logouts/<id>/"),
        (API, "api/?"),
        (RECEIVER, "backchannel-logout/"),
        (LOGIN, "login/"),
        (CALLBACK, "callback/"),
    ]:
        if path.startswith(prefix):
            rest = path.split("?", 1)[0][len(prefix) :]
            if pattern.endswith("<id>/") and not rest:
                pattern = pattern.removesuffix("<id>/")
            return f"{method} {pattern}"
    return f"{method} ?"


def area(path: str) -> str:
    if path.startswith(API):
        return "api"
    if path.startswith(RECEIVER):
        return "receiver"
    return "rp"


def send(
    method: str,
    path: str,
    body: bytes = b"",
    *,
    content_type: str | None = None,
    credential: str | None = None,
    authorization: str | None = None,
    client: Client | None = None,
    **environ: Any,
) -> Response:
    """One request (counted in a property test). An exception escaping Django is raised here
    (the test client's default): it is what a real server turns into a 500."""
    if GENERATING[0]:
        SENT[area(path)] += 1
    headers = {}
    if credential is not None:
        headers["Authorization"] = f"Bearer {credential}"
    if authorization is not None:
        headers["Authorization"] = authorization
    client = client or Client()
    try:
        response: Response = client.generic(
            method,
            path,
            body,
            content_type=content_type if content_type is not None else "",
            headers=headers,
            **environ,
        )
    except Exception as exc:
        # Hypothesis tells failures apart by their cause too: one report per distinct bug.
        raise AssertionError(
            f"500: {method} {path[:200]!r} {content_type!r} {body[:300]!r} raised "
            f"{type(exc).__name__}: {str(exc)[:200]} at {where(exc)}"
        ) from exc
    if GENERATING[0]:
        STATUSES[route(method, path), response.status_code] += 1
    return response


def where(exc: BaseException) -> str:
    """Where ``exc`` was raised, and the innermost frame of logout_sso it went through."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [frame for frame in frames if "/logout_sso/" in frame.filename]
    shown = [frames[-1], *ours[-1:]] if frames else []
    return " from ".join(
        f"{frame.filename.rsplit('site-packages/', 1)[-1]}:{frame.lineno} ({frame.name})"
        for frame in shown
    )


def json_of(value: Any) -> bytes:
    """JSON as a client library writes it: ASCII, so a lone surrogate is sent as ``\\ud800``."""
    return json.dumps(value).encode()


def as_read(body: Any) -> Any:
    """``body`` as the API reads it from :func:`json_of`: the same, but that a high and a low
    surrogate, written as two ``\\u`` escapes, are one character to every JSON reader."""
    return json.loads(json_of(body))


def assert_below_500(response: Response) -> None:
    assert response.status_code < 500, (response.status_code, response.content[:500])


def assert_json_error(response: Response) -> dict[str, Any]:
    """A 4xx whose body is ``{"error": ..., "error_description": ...}``."""
    assert_below_500(response)
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:500])
    assert response["Content-Type"] == "application/json", (
        response.status_code,
        response["Content-Type"],
        response.content[:500],
    )
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "error_description"}, body
    assert isinstance(body["error"], str), body
    assert body["error"], body
    assert isinstance(body["error_description"], str), body
    return body


def assert_error_page(response: Response, status: int) -> str:
    """The login views' documented error page (``logout_sso/login_failed.html``)."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("text/html"), response["Content-Type"]
    page = response.content.decode()
    assert "Sign-in failed" in page, page[:500]
    return page


@contextmanager
def example_of_its_own(*, debug: bool = False, clear_cache: bool = True) -> Iterator[None]:
    """Whatever one example did to the database is undone (and the cache emptied: quotas,
    policies; the receiver's tests keep theirs, the issuer's keys), so that a failure is
    reported for the example that caused it."""
    if clear_cache:
        cache.clear()
    with debug_mode(debug), transaction.atomic():
        yield
        transaction.set_rollback(True)


def debug_mode(debug: bool) -> AbstractContextManager[Any]:
    """``DEBUG = True`` (Django's technical error pages), or the settings as they are."""
    return override_settings(DEBUG=True) if debug else nullcontext()


# --- strategies: hostile values -----------------------------------------------------------------

#: Characters and fragments that break storage, logs, terminals or parsers.
AWKWARD = [
    "\x00",
    "\ud800",
    "\udbff",
    "\udc00",
    "\udfff",
    "\u202e",  # right-to-left override
    "\u2066",
    "\u200f",
    "\u061c",
    "\u200b",
    "\ufeff",
    "\uffff",
    "\U0010ffff",
    "\U0001f600",
    "\r\n",
    "\t",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\u2028",
    "'",
    '"',
    "\\",
    "%00",
    "%2F",
    "/",
    "..",
    "<script>",
    " ",
    "é",
    "İ",
    "ß",
]
surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
controls = st.characters(max_codepoint=0x1F) | st.characters(min_codepoint=0x7F, max_codepoint=0x9F)
fragments = st.sampled_from(AWKWARD) | surrogates | controls | st.text(max_size=6)
hostile_text = st.lists(fragments, min_size=1, max_size=6).map("".join)
#: Around the 254/255-character columns (email is 254), and far over.
long_text = st.builds(
    lambda character, length: character * length,
    st.sampled_from(["x", "é", "\U0001f600", "\x00", "\u202e"]),
    st.sampled_from([253, 254, 255, 256, 300, 501, 5000]),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and infinities too: Python's json writes and reads them
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
hostile = hostile_text | long_text | json_values

#: Organizations by slug, IdP id and near misses: acme (wiki's, IdP id org_acme), globex
#: (another tenant's), initech (nobody's, IdP id org_initech), unknown ones.
ORGANIZATIONS = [
    "acme",
    "org_acme",
    "globex",
    "initech",
    "org_initech",
    "ACME",
    " acme",
    "acme ",
    "org_ACME",
    "acme\x00",
    "org_acme\x00",
    "globex\ud800",
    "",
]
organization_values = st.sampled_from(ORGANIZATIONS) | hostile


def iso(year: int, month: int, day: int, hour: int, minute: int, fraction: str, zone: str) -> str:
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:59{fraction}{zone}"


ZONES = ["Z", "+00:00", "-23:59", "+23:59", "+24:00", "-99:99", "+0530", "-12", "", " UTC", "z"]
datetimes_as_text = st.builds(
    iso,
    st.sampled_from([1, 2, 1969, 1970, 2038, 2100, 9998, 9999]) | st.integers(0, 99999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.sampled_from(["", ".999999", ".1234567", ",5"]),
    st.sampled_from(ZONES),
)
OUT_OF_RANGE_TIMES = [
    "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:59:59.999999-00:01",
    "0001-01-01T00:00:00+23:59",
    "0001-01-01T00:00:00+00:01",
]
expires_at_values = (
    st.sampled_from(OUT_OF_RANGE_TIMES)
    | datetimes_as_text
    | st.just((timezone.now() + timedelta(hours=1)).isoformat())
    | hostile
)

#: What the fuzzed requests are checked against (the columns of TrackedSession): these rows
#: must not change unless the request may change them.
SESSION_COLUMNS = "id, application_id, organization_id, session_id, sub, sid, ended_at"


def rows(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Plain SQL: the checks after each request cost a fraction of what the ORM's would, and
    one run sends ten thousand requests."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        result: list[tuple[Any, ...]] = cursor.fetchall()
        return result


def sessions_now() -> dict[int, tuple[Any, ...]]:
    """Every tracked session, by primary key: :data:`SESSION_COLUMNS` (``ended_at`` None while
    live)."""
    table = TrackedSession._meta.db_table
    return {row[0]: row for row in rows(f"SELECT {SESSION_COLUMNS} FROM {table}")}  # noqa: S608


def logout_events() -> int:
    return int(rows(f"SELECT COUNT(*) FROM {LogoutEvent._meta.db_table}")[0][0])  # noqa: S608


@dataclass
class World:
    """The ``tenants`` of tests/hub/conftest.py, each with live sessions, and a logout event each
    (reported by wiki, acme's, and crm, globex's)."""

    tenants: Tenants
    initech: Organization
    acme_event: LogoutEvent
    globex_event: LogoutEvent

    @property
    def credential(self) -> str:
        """wiki's (acme's application): the caller of every fuzzed API request."""
        return self.tenants.wiki_credential


@pytest.fixture
def world(
    tenants: Tenants, hub_settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch
) -> World:
    hub_settings.LOGOUT_SSO = {
        **hub_settings.LOGOUT_SSO,
        "LOGOUT_REPORTS_PER_MINUTE": 1_000_000,  # the fuzzing is not throttled
        "MAX_SESSIONS_PER_USER": 1_000_000,
    }
    monkeypatch.setattr(tasks.deliver_event, "delay", lambda *args, **kwargs: None)
    initech = Organization.objects.create(
        slug="initech", name="Initech", idp_organization_id="org_initech"
    )
    track_session(tenants.wiki, tenants.acme, "user-1", sid="sid-1", session_id="s-1")
    track_session(tenants.billing, tenants.acme, "user-2", sid="sid-2", session_id="billing-s")
    track_session(tenants.crm, tenants.globex, "user-1", sid="sid-1", session_id="crm-s")
    track_session(tenants.crm, tenants.globex, "user-2", sid="sid-2", session_id="s-1")
    events = [
        LogoutEvent.objects.create(
            initiator="api",
            issuer=IDP_ISSUER,
            sub="user-9",
            organization=organization,
            initiated_by_application=application,
        )
        for organization, application in [
            (tenants.acme, tenants.wiki),
            (tenants.globex, tenants.crm),
        ]
    ]
    return World(tenants, initech, *events)


def post_json(world: World, endpoint: str, raw: bytes) -> Response:
    """POST ``raw`` as JSON to the API, as wiki (never a 401: the credential is right)."""
    response = send(
        "POST",
        f"{API}{endpoint}",
        raw,
        content_type="application/json",
        credential=world.credential,
    )
    assert response.status_code != 401, response.content
    return response


# --- POST /sso/api/sessions/ ---------------------------------------------------------------------


@st.composite
def mutated(
    draw: st.DrawFn, base: dict[str, Any], fields: dict[str, st.SearchStrategy[Any]]
) -> dict[str, Any]:
    """``base`` (a valid body) with up to three of ``fields`` given hostile values or left out,
    and sometimes members it does not know."""
    body = dict(base)
    names = draw(st.lists(st.sampled_from(sorted(fields)), max_size=3, unique=True))
    for name in names:
        if draw(st.integers(0, 4)) == 0:
            body.pop(name, None)
        else:
            body[name] = draw(fields[name])
    body.update(draw(st.dictionaries(hostile_text, hostile, max_size=2)))
    return body


registration = mutated(
    {"sub": "user-3", "session_id": "s-new", "organization": "acme"},
    {
        "sub": st.sampled_from(["user-1", "user-2"]) | hostile,
        "session_id": st.sampled_from(["s-1", "billing-s", "crm-s", "a/b"]) | hostile,
        "organization": organization_values,
        "issuer": st.just(IDP_ISSUER) | hostile,
        "sid": st.sampled_from(["sid-1", "sid-2"]) | hostile,
        "email": st.just("a@acme.example") | hostile,
        "expires_at": expires_at_values | st.none(),
    },
)


@fuzz(max_examples=600)
@given(body=registration)
# Two surrogates that JSON reads back as one character (U+10000): found by a CI run.
@example(body={"sub": "user-3", "session_id": "\ud800\udc00", "organization": "acme"})
def test_registering_hostile_sessions(world, body):
    """Register, register the same again, remove it: a session the API registers is one the
    API can remove, and nothing registered before changes but wiki's session of that id."""
    body = as_read(body)
    session_id = str(body.get("session_id"))
    with example_of_its_own():
        before = sessions_now()
        first = post_json(world, "sessions/", json_of(body))
        again = post_json(world, "sessions/", json_of(body))

        for response in (first, again):
            if response.status_code < 400:
                assert response.status_code in (200, 201), response.content
                assert response.json()["organization"] == "acme"
                assert response.json()["session_id"] == body["session_id"]
            else:
                assert_json_error(response)
        # The same registration again: already registered (200), or refused the same way.
        expected = 200 if first.status_code == 201 else first.status_code
        assert again.status_code == expected, (first.content, again.content)
        registered = sessions_now()
        assert {pk: registered[pk] for pk in before} == before
        for pk in registered.keys() - before.keys():
            row = registered[pk]
            assert row[1:4] == (world.tenants.wiki.pk, world.tenants.acme.pk, session_id), row

        removed = send(
            "DELETE", f"{API}sessions/{segment(session_id)}/", credential=world.credential
        )

        if first.status_code in (200, 201):
            assert removed.status_code == 204, removed.content
        elif removed.status_code != 204:
            assert_json_error(removed)
        after = sessions_now()
        for pk in registered:
            if registered[pk] != after[pk]:  # only wiki's session of that id, now ended
                assert after[pk][1:4] == (world.tenants.wiki.pk, world.tenants.acme.pk, session_id)
                assert after[pk][6] is not None


# --- POST /sso/api/logouts/ ----------------------------------------------------------------------

logout_report = mutated(
    {"sub": "user-1"},
    {
        "sub": st.sampled_from(["user-1", "user-2", ""]) | hostile,
        "sid": st.sampled_from(["sid-1", "sid-2", ""]) | hostile,
        "organization": organization_values,
        "issuer": st.just(IDP_ISSUER) | hostile,
    },
)


@fuzz(max_examples=450)
@given(body=logout_report)
def test_reporting_hostile_logouts(world, body):
    """Report, then report the same again: once its sessions ended, there is nothing left to
    end (200, nothing recorded)."""
    with example_of_its_own():
        before = sessions_now()
        events = logout_events()

        response = post_json(world, "logouts/", json_of(body))

        after = sessions_now()
        ended = [after[pk] for pk in before if before[pk] != after[pk]]
        if response.status_code == 202:
            assert set(response.json()) == {"event", "deliveries"}
            assert logout_events() == events + 1
        elif response.status_code == 200:  # nothing to end: nothing recorded
            assert response.json() == {"event": None, "deliveries": 0}
            assert logout_events() == events
            assert not ended, ended
        else:
            assert_json_error(response)
            assert logout_events() == events
            assert not ended, ended
        for _pk, _app, organization_id, _session_id, sub, sid, ended_at in ended:
            assert organization_id == world.tenants.acme.pk  # never another tenant's
            assert ended_at is not None
            assert (body.get("sid") and sid == body["sid"]) or (
                not body.get("sid") and sub == body.get("sub")
            )

        again = post_json(world, "logouts/", json_of(body))

        if response.status_code < 400:
            assert again.status_code == 200, again.content
            assert again.json() == {"event": None, "deliveries": 0}
        else:
            assert again.status_code == response.status_code, again.content
            assert_json_error(again)
        assert sessions_now() == after


# --- raw bodies to the two POST endpoints --------------------------------------------------------

VALID_REGISTRATION = {"sub": "user-3", "session_id": "s-raw", "organization": "acme"}
INVALID_UTF8 = [b"\xff", b"\x80", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xfe\xff"]


def nested(depth: int, kind: str) -> bytes:
    """A value nested ``depth`` deep: arrays, objects, or both in turn, in a valid body."""
    if kind == "array":
        opening, closing = "[" * depth, "]" * depth
    elif kind == "object":
        opening, closing = '{"":' * depth, "}" * depth
    else:
        opening = '{"":[' * (depth // 2)
        closing = "]}" * (depth // 2)
    return f'{{"sub": {opening}1{closing}, "session_id": "s", "organization": "acme"}}'.encode()


raw_json_bodies = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(INVALID_UTF8).map(lambda bad: b'{"sub": "' + bad + b'", "sid": "x"}'),
    st.builds(
        nested,
        st.sampled_from([999, 1000, 1500, 3000, 5000]) | st.integers(1, 6000),
        st.sampled_from(["array", "object", "mixed"]),
    ),
    json_values.filter(lambda value: not isinstance(value, dict)).map(json_of),
    st.sampled_from(
        [
            b'{"sub": NaN, "session_id": Infinity, "organization": -Infinity}',
            b'{"sub": 1e999999, "sid": -1e999999}',
            b'{"sub": ' + b"9" * 5000 + b"}",
            b'{"sub": "a", "sub": "b", "session_id": "s", "organization": "acme"}',
            b'\xef\xbb\xbf{"sub": "a"}',
            b'{"sub": "\\ud800", "sid": "\\udfff", "session_id": "\\udc00\\ud800"}',
            b'{"sub": "\\u0000", "session_id": "\\u0000", "organization": "acme"}',
            b"",
            b"null",
            b'"a string"',
            b"[]",
            b"{" + b" " * (MAX_BODY_BYTES - 2) + b"}",
            b"{" + b" " * (MAX_BODY_BYTES - 1) + b"}",
        ]
    ),
    st.sampled_from(["utf-16", "utf-16-le", "utf-32", "utf-8-sig"]).map(
        lambda codec: json.dumps(VALID_REGISTRATION).encode(codec)
    ),
)
JSON_CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=UTF-16",
    "application/json; charset=utf-32",
    "application/json; charset=latin-1",
    "application/json; charset=ebcdic-nope",
    "application/json; charset=",
    'application/json; charset="utf-8"',
    "application/json;;;",
    "Application/JSON",
    "text/json",
    "application/merge-patch+json",
    FORM,
    f"{FORM}; charset=utf-16",
    "multipart/form-data",
    "multipart/form-data; boundary=x",
    "text/plain",
    "",
]
#: Content types with parameters of any kind, save RFC 2231's ``name*=charset''value``: with an
#: unknown charset there Django's own request object raises ValueError before any view or
#: middleware runs (django/utils/http.py, parse_header_parameters), not a thing an app can fix.
content_types = st.sampled_from(JSON_CONTENT_TYPES) | st.builds(
    lambda kind, parameters: f"{kind}; {parameters}",
    st.sampled_from(["application/json", FORM]),
    st.text(st.characters(max_codepoint=0xFF, exclude_characters="*"), max_size=20),
)
#: What a client may claim in Content-Length beside the truth, as a function of the body (never
#: more than it sends: the test client cannot serve bytes it does not have, and a real server
#: would wait for them).
CONTENT_LENGTHS: dict[str, Callable[[bytes], str | None]] = {
    "true": lambda body: None,
    "empty": lambda body: "",
    "text": lambda body: "abc",
    "exponent": lambda body: "1e3",
    "hexadecimal": lambda body: "0x10",
    "negative": lambda body: "-1",
    "zero": lambda body: "0",
    "half": lambda body: str(len(body) // 2),
    "padded": lambda body: f" {len(body)} ",
    "signed": lambda body: f"+{len(body)}",
}
content_lengths = st.sampled_from(sorted(CONTENT_LENGTHS))


def claimed_length(kind: str, body: bytes) -> dict[str, Any]:
    length = CONTENT_LENGTHS[kind](body)
    return {} if length is None else {"CONTENT_LENGTH": length}


@fuzz(max_examples=600)
@given(body=raw_json_bodies, content_type=content_types, content_length=content_lengths)
def test_hostile_raw_bodies_to_the_api(world, body, content_type, content_length):
    with example_of_its_own():
        before = sessions_now()
        # The same body to both endpoints, as in production and in development (DEBUG).
        for endpoint, debug in itertools.product(["sessions/", "logouts/"], [False, True]):
            with debug_mode(debug):
                response = send(
                    "POST",
                    f"{API}{endpoint}",
                    body,
                    content_type=content_type,
                    credential=world.credential,
                    **claimed_length(content_length, body),
                )

            if response.status_code >= 300:
                assert_json_error(response)
        after = sessions_now()
        for pk, row in before.items():
            if row[2] != world.tenants.acme.pk:
                assert after[pk] == row  # another tenant's session stays as it was
        for pk in after.keys() - before.keys():
            assert after[pk][1:3] == (world.tenants.wiki.pk, world.tenants.acme.pk)


# --- DELETE /sso/api/sessions/<id>/, GET /sso/api/logouts/<id>/, unknown paths ------------------


def segment(value: str) -> str:
    """``value`` percent-encoded as one path segment (a lone surrogate as its UTF-8 bytes)."""
    return quote(value, safe="", errors="surrogatepass")


session_ids = (
    st.sampled_from(["s-1", "billing-s", "crm-s", "a/b", "x%00y", "x\x00y", "..", ".", "%2e%2e"])
    | hostile_text
    | long_text
)
event_ids = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.sampled_from(
        [
            "-1",
            "-0",
            "0",
            "00001",
            "9223372036854775807",
            "9223372036854775808",
            "18446744073709551616",
            "9" * 400,
            "1.5",
            "1e3",
            "0x10",
            "abc",
            "\u0661",  # ARABIC-INDIC DIGIT ONE: str.isdigit(), not [0-9]
            "1\x00",
            " 1",
        ]
    ),
    hostile_text,
)


@st.composite
def api_requests(draw: st.DrawFn, world: World) -> tuple[str, str]:
    """(method, path) under /sso/api/: a session to remove, an event to read, or no such path."""
    kind = draw(st.sampled_from(["delete", "event", "unknown"]))
    method = draw(st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS"]))
    if kind == "delete":
        session_id = draw(session_ids)
        # As one segment (``/`` as %2F), or as typed (``/`` and ``%xx`` left as they are).
        safe = draw(st.sampled_from(["", "/%"]))
        raw = quote(session_id, safe=safe, errors="surrogatepass")
        return draw(st.just("DELETE") | st.just(method)), f"{API}sessions/{raw}/"
    if kind == "event":
        event = draw(
            st.sampled_from([str(world.acme_event.pk), str(world.globex_event.pk)]) | event_ids
        )
        return draw(st.just("GET") | st.just(method)), f"{API}logouts/{segment(event)}/"
    parts = draw(
        st.lists(
            st.sampled_from(["sessions", "logouts", "x", "1", "-1", "", "..", "%00"])
            | hostile_text.map(segment),
            max_size=3,
        )
    )
    slash = draw(st.sampled_from(["/", ""]))
    return method, f"{API}{'/'.join(parts)}{slash}".replace("//", "/")


@fuzz(max_examples=650)
@given(data=st.data())
def test_hostile_paths_under_the_api(world, data):
    method, path = data.draw(api_requests(world))
    removed = False
    with example_of_its_own():
        before = sessions_now()
        # The same request with wiki's credential and without, in production and with DEBUG.
        for credential, debug in itertools.product([world.credential, None], [False, True]):
            with debug_mode(debug):
                response = send(method, path, b"", credential=credential)

            assert_below_500(response)
            if 300 <= response.status_code < 400:
                # Django's APPEND_SLASH: only for a path without its trailing slash.
                assert not path.endswith("/"), (path, response.status_code)
            elif response.status_code >= 400:
                assert_json_error(response)
            if path == f"{API}logouts/{world.globex_event.pk}/":
                assert response.status_code >= 400  # another tenant's event
            if response.status_code == 204:
                assert credential is not None
                removed = True
        after = sessions_now()
        assert after.keys() == before.keys()
        changed = [pk for pk in before if before[pk] != after[pk]]
        if changed:  # only wiki's own session, by its exact id, with wiki's credential
            assert removed
            assert [after[pk][1] for pk in changed] == [world.tenants.wiki.pk]


# --- Authorization ---------------------------------------------------------------------------

latin1_text = st.text(st.characters(max_codepoint=0xFF), max_size=40)


@fuzz(max_examples=200)
@given(data=st.data())
def test_hostile_credentials(world, data):
    credential = world.credential
    prefix_and_id = "_".join(credential.split("_", 2)[:2])
    authorization = data.draw(
        st.one_of(
            latin1_text,
            latin1_text.map(lambda text: f"Bearer {text}"),
            latin1_text.map(lambda text: f"Bearer lsso_{text}_secret"),
            latin1_text.map(lambda text: f"Bearer {prefix_and_id}_{text}"),
            st.sampled_from(["Bearer", "Bearer ", "bearer  x", "Basic x", "Bearer lsso__", "\x00"]),
            st.sampled_from(["Bearer lsso_\x00_x", f"Bearer {prefix_and_id}\x00_x"]),
            st.just(f"Bearer {credential}\x00"),
            st.just(f"Bearer {credential}x"),
        )
    )
    endpoints = [
        ("POST", f"{API}sessions/"),
        ("POST", f"{API}logouts/"),
        ("DELETE", f"{API}sessions/s-1/"),
        ("GET", f"{API}logouts/{world.acme_event.pk}/"),
    ]
    with example_of_its_own():
        before = sessions_now()
        # Two of the four endpoints with that Authorization.
        for method, path in data.draw(st.permutations(endpoints))[:2]:
            response = send(
                method,
                path,
                json_of({"sub": "user-1", "session_id": "s-9", "organization": "acme"}),
                content_type="application/json",
                authorization=authorization,
            )

            body = assert_json_error(response)
            assert response.status_code == 401, body
            assert response["WWW-Authenticate"].startswith("Bearer")
        assert sessions_now() == before


# --- POST /sso/backchannel-logout/ ------------------------------------------------------------


@dataclass
class Victims:
    server: KeyServer
    session_keys: list[str]

    def intact(self) -> bool:
        """Both of alice's sessions are there, and indexed."""
        placeholders = ", ".join(["%s"] * len(self.session_keys))
        return all(
            rows(
                f"SELECT COUNT(*) FROM {model._meta.db_table} "  # noqa: S608
                f"WHERE session_key IN ({placeholders})",
                *self.session_keys,
            )[0][0]
            == len(self.session_keys)
            for model in (LocalSession, Session)
        )


@pytest.fixture
def victims(hub_settings: SettingsWrapper, acme: Organization) -> Iterator[Victims]:
    """This project also receives logout tokens from an IdP (EdDSA, cheap to sign); alice has
    two sessions here (sid-a, sid-a2), which no hostile token may end."""
    server = KeyServer()
    hub_settings.LOGOUT_SSO = {
        **hub_settings.LOGOUT_SSO,
        "TRUSTED_ISSUERS": [
            {
                "issuer": server.issuer,
                "audience": AUDIENCE,
                "jwks_uri": server.jwks_url,
                "algorithms": ["EdDSA"],
            }
        ],
    }
    keys = []
    for sid in ("sid-a", "sid-a2"):
        store = SessionStore()
        store["who"] = "alice"
        store.create()
        assert store.session_key is not None
        index_session(
            store.session_key, issuer=server.issuer, sub="alice", sid=sid, organization_id=acme.pk
        )
        keys.append(store.session_key)
    yield Victims(server, keys)
    server.stop()


def token_of(victims: Victims, claims: dict[str, Any] | None = None) -> str:
    return victims.server.token(claims or {}, key=ED25519_KEY)


FORM_CONTENT_TYPES = [
    FORM,
    f"{FORM}; charset=utf-8",
    f"{FORM}; charset=UTF-8",
    f"{FORM}; charset=utf-16",
    f"{FORM}; charset=utf-16-le",
    f"{FORM}; charset=latin-1",
    f"{FORM}; charset=iso-8859-1",
    f"{FORM}; charset=ascii",
    f"{FORM}; charset=ebcdic-nope",
    f"{FORM}; charset=",
    f'{FORM}; charset="utf-16"',
    f"{FORM}; boundary=x",
    "APPLICATION/X-WWW-FORM-URLENCODED",
    "multipart/form-data",
    "multipart/form-data; boundary=zz",
    "application/json",
    "text/plain",
    "",
]
form_content_types = st.sampled_from(FORM_CONTENT_TYPES) | st.builds(
    lambda parameters: f"{FORM}; {parameters}",
    st.text(st.characters(max_codepoint=0xFF, exclude_characters="*"), max_size=20),
)
hostile_tokens = st.one_of(
    hostile_text,
    long_text,
    st.sampled_from(["a\x00b", "\x00", "a.b.c\x00", "e30.e30.\x00", "%00", "\ud800.e30.x"]),
    st.lists(hostile_text, min_size=3, max_size=3).map(".".join),
)


def form_pairs(pairs: list[tuple[str, str]]) -> bytes:
    return urlencode(pairs, quote_via=quote, errors="surrogatepass").encode()


form_bodies = st.one_of(
    st.lists(st.tuples(st.just("logout_token") | hostile_text, hostile_tokens), max_size=4).map(
        form_pairs
    ),
    # Thousands of fields (Django allows 1000), under or over the 16 KiB limit.
    st.builds(
        lambda count, name: b"&".join([name] * count) + b"&logout_token=x",
        st.sampled_from([999, 1000, 1001, 3000, 6000, 20000]) | st.integers(1, 8000),
        st.sampled_from([b"a", b"a=", b"a=1", b"logout_token=x"]),
    ),
    st.binary(max_size=64),
    st.sampled_from(INVALID_UTF8).map(lambda bad: b"logout_token=" + bad),
    st.sampled_from(["%ff", "%ed%a0%80", "%c0%80", "%00", "a%00b", "%"]).map(
        lambda escaped: f"logout_token={escaped}".encode()
    ),
    st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1"]).map(
        lambda codec: "logout_token=a.b.c&x=é".encode(codec)
    ),
)


@fuzz(max_examples=1100)
@given(
    body=form_bodies,
    content_type=form_content_types,
    content_length=content_lengths,
    method=st.sampled_from(["POST"] * 6 + ["GET", "PUT", "DELETE"]),
)
def test_hostile_bodies_to_the_receiver(victims, body, content_type, content_length, method):
    with example_of_its_own(clear_cache=False):
        for debug in (False, True):  # the same request, as in production and in development
            with debug_mode(debug):
                response = send(
                    method,
                    RECEIVER,
                    body,
                    content_type=content_type,
                    **claimed_length(content_length, body),
                )

            assert_json_error(response)
        assert victims.intact()


#: Claims of a validly signed token that no database column or session can hold.
hostile_claim = hostile_text.filter(
    lambda value: value not in ("alice", "sid-a", "sid-a2", "")
) | long_text.filter(lambda value: len(value) <= 255)


@fuzz(max_examples=450)
@given(
    sub=hostile_claim | st.sampled_from(["alice", None]),
    sid=hostile_claim | st.sampled_from(["sid-a", None]),
    jti=st.none() | hostile_text,
    extra=st.dictionaries(hostile_text, hostile, max_size=2),
    debug=st.booleans(),
)
def test_signed_logout_tokens_with_hostile_claims(victims, sub, sid, jti, extra, debug):
    # At least one of sub and sid is hostile: the token names no session here.
    claims: dict[str, Any] = {**extra, "events": {EVENT: {}}, "iss": victims.server.issuer}
    claims["aud"], claims["iat"] = AUDIENCE, int(time.time())
    for name, value in (("sub", sub), ("sid", sid)):
        claims[name] = value if value is not None else ""
    if sub in ("alice", None) and sid in ("sid-a", None):
        claims["sid"] = "\x00"
    if jti is not None:
        claims["jti"] = jti
    token = token_of(victims, claims)
    with example_of_its_own(debug=debug, clear_cache=False):
        response = send("POST", RECEIVER, form_pairs([("logout_token", token)]), content_type=FORM)

        if response.status_code != 200:
            assert_json_error(response)
        assert victims.intact()


# --- GET /sso/login/ and /sso/callback/ ----------------------------------------------------------


@pytest.fixture
def rp(hub_settings: SettingsWrapper, tenants: Tenants) -> Tenants:
    """This project signs its users in at the IdP; acme's users have @acme.example."""
    hub_settings.OIDC_OP_AUTHORIZATION_ENDPOINT = AUTHORIZE
    hub_settings.OIDC_RP_CLIENT_ID = "hub-client"
    hub_settings.OIDC_RP_CLIENT_SECRET = "not-a-secret"
    hub_settings.OIDC_OP_TOKEN_ENDPOINT = "https://idp.example.com/oauth/token"
    hub_settings.OIDC_OP_USER_ENDPOINT = "https://idp.example.com/userinfo"
    hub_settings.OIDC_OP_JWKS_ENDPOINT = "https://idp.example.com/.well-known/jwks.json"
    hub_settings.OIDC_RP_SIGN_ALGO = "RS256"
    EmailDomain.objects.create(organization=tenants.acme, domain="acme.example")
    return tenants


def query(params: dict[str, str]) -> str:
    return urlencode(params, quote_via=quote, errors="surrogatepass")


emails = (
    st.builds(
        lambda local, domain: f"{local}@{domain}",
        st.just("a") | hostile_text,
        st.sampled_from(["acme.example", "ACME.example", "acme.example\x00", "globex.example"])
        | hostile_text,
    )
    | hostile_text
)
login_queries = st.fixed_dictionaries(
    {},
    optional={
        "organization": st.sampled_from(ORGANIZATIONS) | hostile_text | long_text,
        "login_hint": emails,
        "email": emails,
        "next": st.sampled_from(["/me/", "//evil.example", "https://evil.example", "/\x00"])
        | hostile_text,
        "prompt": st.sampled_from(["none", "login", "none\x00"]) | hostile_text,
    },
)


@fuzz(max_examples=250)
@given(params=login_queries)
def test_hostile_login_query_strings(rp, params):
    with example_of_its_own():
        response = send("GET", f"{LOGIN}?{query(params)}")

        assert_below_500(response)
        if response.status_code == 302:
            assert response["Location"].startswith(f"{AUTHORIZE}?")
        else:
            assert_error_page(response, 400)


callback_values = st.sampled_from(["", "x", "login_required", "\x00"]) | hostile_text | long_text


@fuzz(max_examples=120)
@given(
    organization=st.sampled_from(["acme", "org_acme", "globex"]),
    prompt=st.sampled_from(["", "none"]),
    real_state=st.booleans(),
    state=callback_values,
    extra=st.fixed_dictionaries(
        {},
        optional={
            "code": callback_values,
            "error": callback_values,
            "error_description": callback_values,
        },
    ),
)
def test_hostile_callback_query_strings(rp, organization, prompt, real_state, state, extra):
    client = Client()
    with example_of_its_own():
        login = send(
            "GET",
            f"{LOGIN}?{query({'organization': organization, 'prompt': prompt})}",
            client=client,
        )
        assert login.status_code == 302
        if real_state:
            state = login["Location"].split("state=", 1)[1].split("&", 1)[0]
            if extra.get("code") and not extra.get("error"):
                extra["error"] = "access_denied"  # a real state with a code: the token endpoint
        response = send("GET", f"{CALLBACK}?{query({'state': state, **extra})}", client=client)

        assert_below_500(response)
        if response.status_code >= 400:
            assert response["Content-Type"].startswith("text/html")


# --- the named cases, one by one ------------------------------------------------------------------


REGISTRATION_FIELDS = ["sub", "sid", "session_id", "organization", "issuer", "email", "expires_at"]
LOGOUT_FIELDS = ["sub", "sid", "organization", "issuer"]


def registration_with(field: str, value: str) -> dict[str, str]:
    return {"sub": "user-3", "session_id": "s-3", "organization": "acme", field: value}


@pytest.mark.parametrize("character", ["\x00", "\ud800"], ids=["nul", "lone-surrogate"])
@pytest.mark.parametrize("field", REGISTRATION_FIELDS)
def test_registration_with_an_unstorable_character_is_a_json_400(world, field, character):
    before = sessions_now()

    response = post_json(world, "sessions/", json_of(registration_with(field, f"a{character}b")))

    body = assert_json_error(response)
    assert response.status_code == 400, body
    assert body["error"] == "invalid_request"
    assert field in body["error_description"], body
    assert sessions_now() == before


@pytest.mark.parametrize("character", ["\x00", "\ud800"], ids=["nul", "lone-surrogate"])
@pytest.mark.parametrize("field", LOGOUT_FIELDS)
def test_logout_report_with_an_unstorable_character_is_a_json_400(world, field, character):
    before = sessions_now()
    fields = {"sub": "user-1", field: f"user-1{character}"}

    response = post_json(world, "logouts/", json_of(fields))

    body = assert_json_error(response)
    assert response.status_code == 400, body
    assert body["error"] == "invalid_request"
    assert field in body["error_description"], body
    assert LogoutEvent.objects.count() == 2  # the fixture's
    assert sessions_now() == before


@pytest.mark.parametrize("kind", ["array", "object", "mixed"])
@pytest.mark.parametrize("endpoint", ["sessions/", "logouts/"])
def test_json_nested_3000_deep_is_a_json_400(world, endpoint, kind):
    raw = nested(3000, kind)
    assert len(raw) <= MAX_BODY_BYTES

    response = post_json(world, endpoint, raw)

    body = assert_json_error(response)
    assert response.status_code == 400, body
    assert body["error"] == "invalid_request"


@pytest.mark.parametrize("expires_at", OUT_OF_RANGE_TIMES)
def test_an_expiry_out_of_range_is_a_json_400(world, expires_at):
    before = sessions_now()

    response = post_json(world, "sessions/", json_of(registration_with("expires_at", expires_at)))

    body = assert_json_error(response)
    assert response.status_code == 400, body
    assert "expires_at" in body["error_description"], body
    assert sessions_now() == before


def test_an_email_longer_than_its_column_is_refused_or_kept_whole(world):
    email = f"{'a' * 242}@acme.example"  # 255 characters: text() allows it, the column is 254
    assert len(email) == 255
    response = post_json(world, "sessions/", json_of(registration_with("email", email)))

    if response.status_code == 201:
        assert TrackedSession.objects.get(session_id="s-3").email == email
    else:
        body = assert_json_error(response)
        assert response.status_code == 400, body
        assert "email" in body["error_description"], body


def test_a_session_id_with_a_slash_is_refused_or_can_be_removed(world):
    """A session the API registers must be one the API can remove."""
    response = post_json(world, "sessions/", json_of(registration_with("session_id", "a/b")))

    if response.status_code == 201:
        removed = send("DELETE", f"{API}sessions/a%2Fb/", credential=world.credential)
        assert removed.status_code == 204, removed.content
        assert TrackedSession.objects.get(session_id="a/b").ended_at is not None
    else:
        body = assert_json_error(response)
        assert response.status_code == 400, body
        assert "session_id" in body["error_description"], body


def test_removing_a_session_id_with_a_slash_that_is_unknown_is_a_json_404(world):
    response = send("DELETE", f"{API}sessions/a/b/", credential=world.credential)

    body = assert_json_error(response)
    assert response.status_code == 404, body


def test_removing_a_session_id_with_nul_is_a_json_4xx(world):
    """No session can have that id: a 400 (the issue's word) or a 404 (no such session)."""
    before = sessions_now()

    response = send("DELETE", f"{API}sessions/x%00y/", credential=world.credential)

    body = assert_json_error(response)
    assert response.status_code in (400, 404), body
    assert sessions_now() == before


@pytest.mark.parametrize(
    "path",
    [
        "logouts/-1/",
        "logouts/abc/",
        "logouts/1.5/",
        "logouts/0/",
        "logouts/9223372036854775808/",
        "logouts/99999999999999999999/",
        "nope/",
        "",
        "sessions/x/y/",
        "sessions/%0A/",  # a newline: "." in a URL pattern does not match it
        "sessions/a%0Ab/",
        "logouts/1/deliveries/",
        "logouts/%0A/",
        "x%0Ay/",
    ],
)
@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_an_unknown_path_or_id_under_the_api_is_a_json_404(world, settings, path, debug):
    settings.DEBUG = debug
    method = "DELETE" if path.startswith("sessions/") else "GET"

    response = send(method, f"{API}{path}", credential=world.credential)

    body = assert_json_error(response)
    assert response.status_code == 404, body
    assert body["error"] == "not_found"


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize("path", ["logouts/%0A", "sessions/%0D%0A", "nope%0A"])
def test_a_post_to_an_unknown_path_without_its_slash_is_a_json_404(world, settings, path, debug):
    """Not Django's APPEND_SLASH: a 301 that drops the body, or with DEBUG a RuntimeError (500)
    when the path with a slash would match one of the API's patterns."""
    settings.DEBUG = debug

    response = send("POST", f"{API}{path}", b"{}", content_type="application/json")

    body = assert_json_error(response)
    assert response.status_code == 404, body


@pytest.mark.parametrize(
    "authorization",
    ["Bearer lsso_\x00_0", "Bearer lsso_a\x00_secret", "Bearer \x00", "\x00"],
    ids=["nul-id", "nul-in-id", "nul-token", "nul-header"],
)
def test_a_credential_with_nul_is_a_json_401(world, authorization):
    """Whether a server lets a NUL through in a header or not, the hub answers 401."""
    response = send("GET", f"{API}logouts/{world.acme_event.pk}/", authorization=authorization)

    body = assert_json_error(response)
    assert response.status_code == 401, body


def test_another_tenants_event_is_a_json_404(world):
    response = send("GET", f"{API}logouts/{world.globex_event.pk}/", credential=world.credential)

    body = assert_json_error(response)
    assert response.status_code == 404, body


@pytest.mark.parametrize(
    "params",
    [
        {"organization": "\x00"},
        {"organization": "acme\x00"},
        {"login_hint": "a@acme.example\x00"},
        {"email": "a@acme.example\x00"},
        {"login_hint": "a\x00@acme.example\x00"},
    ],
    ids=["organization", "organization-suffix", "login-hint", "email", "login-hint-twice"],
)
def test_login_with_nul_is_the_400_page(rp, params):
    response = send("GET", f"{LOGIN}?{query(params)}")

    page = assert_error_page(response, 400)
    assert "This link names none we know." in page


def test_login_with_nul_in_next_still_starts_the_login(rp):
    params = {"organization": "acme", "next": "/me/\x00"}

    response = send("GET", f"{LOGIN}?{query(params)}")

    assert response.status_code == 302
    assert response["Location"].startswith(f"{AUTHORIZE}?")


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize(
    ("charset", "codec"),
    [("utf-16", "utf-16"), ("utf-16-le", "utf-16-le"), ("latin-1", "latin-1")],
)
def test_receiver_with_a_form_charset_other_than_utf8_is_a_json_400(
    victims, settings, charset, codec, debug
):
    settings.DEBUG = debug
    token = token_of(victims)  # valid, but not in an encoding a form may have

    response = send(
        "POST",
        RECEIVER,
        f"logout_token={token}".encode(codec),
        content_type=f"{FORM}; charset={charset}",
    )

    body = assert_json_error(response)
    assert response.status_code in (400, 415), body
    assert body["error"] == "invalid_request"
    assert victims.intact()


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_receiver_with_an_unknown_charset_is_a_json_400(victims, settings, debug):
    settings.DEBUG = debug

    response = send(
        "POST", RECEIVER, b"logout_token=x.y.z", content_type=f"{FORM}; charset=ebcdic-nope"
    )

    body = assert_json_error(response)
    assert response.status_code in (400, 415), body
    assert victims.intact()


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize("count", [1001, 5000])
def test_receiver_with_too_many_fields_is_a_json_400(victims, settings, count, debug):
    settings.DEBUG = debug
    body = b"&".join([b"a"] * count) + f"&logout_token={token_of(victims)}".encode()
    assert len(body) <= MAX_BODY_BYTES

    response = send("POST", RECEIVER, body, content_type=FORM)

    body_json = assert_json_error(response)
    assert response.status_code == 400, body_json
    assert body_json["error"] == "invalid_request"
    assert victims.intact()


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize("token", ["a\x00b", "\x00", "e30.e30.\x00"])
def test_receiver_with_nul_in_the_token_is_a_json_400(victims, settings, token, debug):
    settings.DEBUG = debug

    response = send("POST", RECEIVER, form_pairs([("logout_token", token)]), content_type=FORM)

    body = assert_json_error(response)
    assert response.status_code == 400, body
    assert victims.intact()


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "alice\x00", "sid": ""},
        {"sub": "", "sid": "sid-a\x00"},
        {"sub": "alice", "sid": "sid-a\x00"},
        {"sub": "alice\ud800", "sid": ""},
        {"sub": "", "sid": "sid-a\udfff"},
        {"jti": "\ud800"},
        {"jti": "\x00"},
    ],
    ids=[
        "nul-sub",
        "nul-sid",
        "nul-sid-with-sub",
        "surrogate-sub",
        "surrogate-sid",
        "surrogate-jti",
        "nul-jti",
    ],
)
def test_signed_token_with_unstorable_claims_ends_nothing_and_is_not_a_500(
    victims, settings, claims, debug
):
    settings.DEBUG = debug

    response = send(
        "POST",
        RECEIVER,
        form_pairs([("logout_token", token_of(victims, claims))]),
        content_type=FORM,
    )

    if response.status_code != 200:
        body = assert_json_error(response)
        assert response.status_code == 400, body
    if "jti" not in claims:
        assert victims.intact()


# --- the count ------------------------------------------------------------------------------------


def test_zz_requests_per_run():
    """Runs last (pytest keeps the file's order): one full run sends at least MIN_REQUESTS
    generated requests to the API and the receiver, and reaches every success, not only
    errors."""
    missing = PROPERTY_TESTS - COMPLETED
    total = SENT["api"] + SENT["receiver"]
    statuses = ", ".join(f"{name} {status}: {n}" for (name, status), n in sorted(STATUSES.items()))
    counts = f"{total} requests to the API and the receiver ({dict(SENT)}; {statuses})"
    if missing:
        pytest.skip(f"{counts}; not a full run, incomplete: {', '.join(sorted(missing))}")
    print(counts)  # shown with -s
    assert total >= MIN_REQUESTS, counts
    successes = [
        ("POST api/sessions/", 201),
        ("POST api/sessions/", 200),
        ("POST api/logouts/", 202),
        ("DELETE api/sessions/<id>/", 204),
        ("GET api/logouts/<id>/", 200),
        ("POST backchannel-logout/", 200),
        ("GET login/", 302),
    ]
    assert all(STATUSES[success] for success in successes), counts
