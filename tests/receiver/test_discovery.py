"""What a slow, failing or hostile provider costs: ``logout_sso.internal.discovery`` against
real HTTP servers on loopback (no mocked requests).

- Failures are cached: while an issuer's JWKS or discovery document cannot be fetched, forged
  logout tokens make one request to it per ``FAILURE_CACHE_SECONDS``, not one each.
- One fetch ends at its deadline, however the server drips its answer, and refuses answers over
  ``MAX_DOCUMENT_BYTES``.
- Requests that need a document nobody has cached wait for the one fetching it.

Waiting ``FAILURE_CACHE_SECONDS`` is done by deleting the cache entries that would have expired
(as the JWKS tests of ``test_receiver`` do for the refetch floor); the deadline is made small
with ``monkeypatch``. The tests never sleep: the servers pace their answers with
``Event.wait(timeout)`` (which ends at once when the test closes them), and the tests wait for
events, with a timeout, never for a duration.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from io import BufferedIOBase
from socketserver import StreamRequestHandler, ThreadingTCPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.test import Client

from logout_sso.internal import discovery
from logout_sso.internal.discovery import (
    FAILURE_CACHE_SECONDS,
    MAX_DOCUMENT_BYTES,
    ProviderError,
    RecentFetchFailure,
    provider_metadata,
    signing_key,
)
from logout_sso.rp.backend import LoginRejected, OrganizationOIDCBackend
from tests.loopback import IncomingRequest, LoopbackServer, Reply, json_reply
from tests.receiver_keys import (
    DISCOVERY_PATH,
    JWKS_PATH,
    OTHER_RSA_KEY,
    RSA_KEY,
    KeyServer,
    make_token,
)
from tests.signing_in import is_signed_in, sign_in_through_idp

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

URL = "/sso/backchannel-logout/"
FORM = "application/x-www-form-urlencoded"
#: What the receiver answers while the issuer's keys cannot be had (README, "Back-channel logout").
UNAVAILABLE = {
    "error": "temporarily_unavailable",
    "error_description": "The issuer's keys cannot be fetched.",
}
#: The longest the tests wait for a thread or a server to get somewhere.
WAIT = 10.0
JWKS_BODY = json.dumps({"keys": [RSA_KEY.jwk()]}).encode()


# --- fixtures and helpers (``server`` and ``trust``: tests/receiver/conftest.py) ----------------


def post(token: str) -> Response:
    """The IdP's POST of a logout token to the receiver."""
    return Client().post(URL, urlencode({"logout_token": token}), content_type=FORM)


def assert_unavailable(response: Response) -> None:
    assert response.status_code == 503, response.content.decode()
    assert response["Content-Type"] == "application/json"
    assert response.json() == UNAVAILABLE


def forged_tokens(server: KeyServer, count: int) -> list[str]:
    """Tokens for the server's issuer signed by a key it never published, each with its own kid."""
    return [
        server.token(header_overrides={"kid": f"forged-{n}"}, key=OTHER_RSA_KEY)
        for n in range(count)
    ]


def let_the_failure_floor_pass(kind: str, name: str) -> None:
    """What ``FAILURE_CACHE_SECONDS`` (= ``JWKS_MIN_REFETCH_SECONDS``) of waiting does: the
    entries of ``kind`` ("jwks", "metadata") for ``name`` (its URL, its issuer) with that
    lifetime expire."""
    assert FAILURE_CACHE_SECONDS == discovery.JWKS_MIN_REFETCH_SECONDS
    cache.delete_many(
        [
            discovery._cache_key(f"{kind}-failed", name),
            discovery._cache_key(f"{kind}-fetched", name),
        ]
    )


# --- a server that writes whatever answer, as slowly as it likes --------------------------------

Script = Callable[[BufferedIOBase, threading.Event], None]


class _Handler(StreamRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # The request's head; the GETs here have no body.
        try:
            self.server.script(self.wfile, self.server.stopping)
        except OSError:
            self.server.hung_up.set()  # The client closed the connection before the end.


class _TCPServer(ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, script: Script) -> None:
        self.script = script
        self.stopping = threading.Event()
        self.hung_up = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)


class ScriptedServer:
    """An HTTP server on 127.0.0.1 whose answers ``script(wfile, stopping)`` writes, raw and at
    its own pace (it returns soon once ``stopping`` is set). ``hung_up`` is set when a client
    closed its connection before the script was done."""

    def __init__(self, script: Script) -> None:
        self._server = _TCPServer(script)
        self.hung_up = self._server.hung_up
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def scripted() -> Iterator[Callable[[Script], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(script: Script) -> ScriptedServer:
        servers.append(ScriptedServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def write(wfile: BufferedIOBase, data: bytes) -> None:
    wfile.write(data)
    wfile.flush()


def head(*headers: str) -> bytes:
    return "\r\n".join(
        ["HTTP/1.1 200 OK", "Content-Type: application/json", *headers, "", ""]
    ).encode()


def drip(body: bytes, every: float) -> Script:
    """The headers at once, then the body a byte every ``every`` seconds."""

    def script(wfile: BufferedIOBase, stopping: threading.Event) -> None:
        write(wfile, head(f"Content-Length: {len(body)}"))
        for byte in body:
            if stopping.wait(every):
                return
            write(wfile, bytes([byte]))

    return script


# --- (a, b) failures are cached: 30 forged tokens, 1 request; fetched again after the floor ------


@pytest.mark.django_db
def test_forged_tokens_while_the_jwks_fails_make_one_request(trust, server):
    server.fail_with(500)

    answers = [post(token) for token in forged_tokens(server, 30)]

    for response in answers:
        assert_unavailable(response)
    assert server.jwks_fetches == 1
    # The 500 was the first answer's; the others say when the keys will be fetched again.
    assert all(1 <= int(response["Retry-After"]) <= 30 for response in answers[1:])


@pytest.mark.django_db
def test_the_jwks_is_fetched_again_after_the_floor_and_then_works(trust, server, acme):
    alice = Client()
    sign_in_through_idp(alice, acme, issuer=server.issuer, sub="alice", sid="sid-a")
    server.fail_with(500)
    assert_unavailable(post(server.token()))
    server.fail_with(200)  # The provider is back: not asked again before the floor has passed.
    assert_unavailable(post(server.token()))
    assert server.jwks_fetches == 1
    assert is_signed_in(alice)

    let_the_failure_floor_pass("jwks", server.jwks_url)

    assert post(server.token()).status_code == 200
    assert not is_signed_in(alice)
    assert post(server.token({"sid": "sid-b", "sub": "bob"})).status_code == 200
    assert server.jwks_fetches == 2


def test_the_error_says_the_last_fetch_failed_and_when_it_is_tried_again(server):
    server.fail_with(500)
    with pytest.raises(ProviderError, match="500 Server Error"):
        signing_key(server.jwks_url, RSA_KEY.kid, "RS256")
    before = time.time()

    with pytest.raises(RecentFetchFailure) as failure:
        signing_key(server.jwks_url, RSA_KEY.kid, "RS256")

    message = str(failure.value)
    assert message.startswith(f"The last fetch of {server.jwks_url} failed (Cannot read ")
    assert "500 Server Error" in message
    assert re.search(r"; it will be tried again at \d\d:\d\d:\d\d UTC \(in (29|30) s\)\.$", message)
    assert before < failure.value.retry_at <= before + FAILURE_CACHE_SECONDS
    assert server.jwks_fetches == 1


def test_a_success_forgets_a_failure_recorded_meanwhile():
    """Another request's failure, recorded while this one fetched, is cleared by its success:
    the next refetch (a new key id, after the floor) is not refused."""
    failed = {"reason": "Cannot read: another process failed", "retry_at": time.time() + 30}

    def respond(request: IncomingRequest) -> Reply:
        if provider.requests[JWKS_PATH] == 1:
            cache.set(discovery._cache_key("jwks-failed", jwks_url), failed, 30)
        return json_reply({"keys": [RSA_KEY.jwk()]})

    with LoopbackServer(respond) as provider:
        jwks_url = f"{provider.url}{JWKS_PATH}"
        assert signing_key(jwks_url, RSA_KEY.kid, "RS256").key_id == RSA_KEY.kid
        cache.delete(discovery._cache_key("jwks-fetched", jwks_url))  # the refetch floor passes

        with pytest.raises(ProviderError, match="No RS256 key with kid 'rotated'"):
            signing_key(jwks_url, "rotated", "RS256")

        assert provider.requests[JWKS_PATH] == 2


def test_a_failed_refetch_keeps_the_cached_keys_and_is_not_retried_within_the_floor(server):
    signing_key(server.jwks_url, RSA_KEY.kid, "RS256")
    cache.delete(discovery._cache_key("jwks-fetched", server.jwks_url))
    server.fail_with(500)

    with pytest.raises(ProviderError, match="500 Server Error"):
        signing_key(server.jwks_url, "rotated", "RS256")
    for _attempt in range(5):
        with pytest.raises(ProviderError):
            signing_key(server.jwks_url, "rotated", "RS256")
    key = signing_key(server.jwks_url, RSA_KEY.kid, "RS256")

    assert key.key_id == RSA_KEY.kid
    assert server.jwks_fetches == 2


# --- (e) a discovery document's failure is cached the same way ----------------------------------


@pytest.mark.django_db
def test_forged_tokens_while_discovery_fails_make_one_request(trust, server):
    trust(jwks_uri=False)
    server.fail_with(500)

    for token in forged_tokens(server, 30):
        assert_unavailable(post(token))

    assert (server.discovery_fetches, server.jwks_fetches) == (1, 0)
    server.fail_with(200)
    let_the_failure_floor_pass("metadata", server.issuer)
    assert post(server.token()).status_code == 200
    assert (server.discovery_fetches, server.jwks_fetches) == (2, 1)


@pytest.mark.parametrize(
    "document",
    [{"issuer": "https://evil.example.com/"}, b"<html>not json</html>"],
    ids=["another-issuer", "not-json"],
)
def test_a_refused_discovery_document_is_not_fetched_again_within_the_floor(
    server, document, monkeypatch
):
    metadata_of = server.document
    monkeypatch.setattr(
        server, "document", lambda path: document if path == DISCOVERY_PATH else metadata_of(path)
    )

    with pytest.raises(ProviderError):
        provider_metadata(server.issuer)
    with pytest.raises(RecentFetchFailure, match=f"The last fetch of {server.issuer}"):
        provider_metadata(server.issuer)

    assert server.discovery_fetches == 1
    monkeypatch.undo()  # The provider serves its own document again.
    let_the_failure_floor_pass("metadata", server.issuer)
    assert provider_metadata(server.issuer)["jwks_uri"] == server.jwks_url


# --- (c) the deadline of one fetch --------------------------------------------------------------


@pytest.fixture
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(discovery, "FETCH_DEADLINE_SECONDS", 0.3)
    return 0.3


def test_a_body_dripped_slowly_is_abandoned_at_the_deadline(scripted, short_deadline):
    # Without the deadline the fetch would succeed, after len(JWKS_BODY) * 10 ms (about 4 s).
    provider = scripted(drip(JWKS_BODY, every=0.01))

    with pytest.raises(ProviderError, match=r"no complete answer within 0\.3 s"):
        signing_key(f"{provider.url}/jwks", RSA_KEY.kid, "RS256")

    assert provider.hung_up.wait(WAIT)  # The connection was closed, the body not all sent.
    with pytest.raises(RecentFetchFailure, match="no complete answer"):
        signing_key(f"{provider.url}/jwks", RSA_KEY.kid, "RS256")


def test_headers_that_do_not_come_are_abandoned_at_the_deadline(scripted, short_deadline):
    def late(wfile: BufferedIOBase, stopping: threading.Event) -> None:
        if not stopping.wait(WAIT):
            write(wfile, head(f"Content-Length: {len(JWKS_BODY)}") + JWKS_BODY)

    provider = scripted(late)

    with pytest.raises(ProviderError, match=r"no complete answer within 0\.3 s"):
        signing_key(f"{provider.url}/jwks", RSA_KEY.kid, "RS256")


def test_a_document_sent_a_byte_at_a_time_within_the_deadline_is_read(scripted):
    provider = scripted(drip(JWKS_BODY, every=0))

    assert signing_key(f"{provider.url}/jwks", RSA_KEY.kid, "RS256").key_id == RSA_KEY.kid


# --- (d) the size limit -------------------------------------------------------------------------


def padded(size: int) -> bytes:
    """A JSON object of ``size`` bytes."""
    return b'{"keys": [], "padding": "' + b"x" * (size - 27) + b'"}'


def close_delimited(body: bytes) -> Script:
    """An answer with no length: the body ends when the connection closes."""

    def script(wfile: BufferedIOBase, stopping: threading.Event) -> None:
        write(wfile, head("Connection: close"))
        for start in range(0, len(body), 65536):
            write(wfile, body[start : start + 65536])

    return script


def endless(*, chunks: bool) -> Script:
    """An answer with no length and no end: 64 KiB pieces of a JSON string until the client hangs
    up (or 16 MiB, then the connection closes), in the chunked transfer coding or not."""
    piece = b"x" * 65536
    framed = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunks else piece

    def script(wfile: BufferedIOBase, stopping: threading.Event) -> None:
        write(wfile, head("Transfer-Encoding: chunked" if chunks else "Connection: close"))
        start = b'{"keys": [], "padding": "'
        write(wfile, f"{len(start):x}\r\n".encode() + start + b"\r\n" if chunks else start)
        for _piece in range(32 * MAX_DOCUMENT_BYTES // len(piece)):  # Ends, for a regression.
            if stopping.is_set():
                return
            write(wfile, framed)

    return script


def test_padded_builds_json_objects_of_that_size():
    assert len(padded(1000)) == 1000
    assert json.loads(padded(1000))["keys"] == []


def test_a_document_of_the_maximum_size_is_read(scripted):
    provider = scripted(close_delimited(padded(MAX_DOCUMENT_BYTES)))

    with pytest.raises(ProviderError, match="No RS256 key"):  # read, and it has no keys
        signing_key(f"{provider.url}/jwks", RSA_KEY.kid, "RS256")


def test_a_body_declared_too_long_is_refused_unread():
    with LoopbackServer(lambda request: json_reply(padded(MAX_DOCUMENT_BYTES + 1))) as provider:
        with pytest.raises(ProviderError, match=f"answered more than {MAX_DOCUMENT_BYTES} bytes"):
            signing_key(f"{provider.url}/jwks", RSA_KEY.kid, "RS256")
        with pytest.raises(RecentFetchFailure):
            signing_key(f"{provider.url}/jwks", RSA_KEY.kid, "RS256")

        assert provider.requests["/jwks"] == 1


@pytest.mark.parametrize("chunks", [False, True], ids=["no-length", "chunked"])
def test_a_body_too_long_without_a_declared_length_is_refused(scripted, chunks):
    provider = scripted(endless(chunks=chunks))

    with pytest.raises(ProviderError, match=f"answered more than {MAX_DOCUMENT_BYTES} bytes"):
        signing_key(f"{provider.url}/jwks", RSA_KEY.kid, "RS256")

    assert provider.hung_up.wait(WAIT)  # Not read any further.


def test_a_compressed_answer_is_refused_and_none_is_asked_for():
    seen: list[str | None] = []

    def respond(request: IncomingRequest) -> Reply:
        seen.append(request.headers.get("Accept-Encoding"))
        return Reply(200, (("Content-Encoding", "gzip"),), b"\x1f\x8b")

    with (
        LoopbackServer(respond) as provider,
        pytest.raises(ProviderError, match="Content-Encoding 'gzip'"),
    ):
        signing_key(f"{provider.url}/jwks", RSA_KEY.kid, "RS256")

    assert seen == ["identity"]


# --- (3) requests that need a document nobody has cached: one fetches, the others wait ----------


class Gate:
    """A JWKS endpoint that holds its answer until :meth:`open`; ``arrived`` once asked."""

    def __init__(self, reply: Reply) -> None:
        self.arrived = threading.Event()
        self._open = threading.Event()
        self._reply = reply

    def respond(self, request: IncomingRequest) -> Reply:
        self.arrived.set()
        self._open.wait(WAIT)
        return self._reply

    def open(self) -> None:
        self._open.set()


class Outcome:
    """What a call made in a thread returned or raised."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self.value = call()
        except BaseException as exc:  # Reported by the test.
            self.error = exc

    def join(self) -> Outcome:
        self._thread.join(WAIT)
        assert not self._thread.is_alive()
        return self


@pytest.fixture
def waiting(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set when a request first pauses to wait for another's fetch."""
    event = threading.Event()
    pause = discovery._pause

    def pause_and_tell() -> None:
        event.set()
        pause()

    monkeypatch.setattr(discovery, "_pause", pause_and_tell)
    return event


@pytest.fixture
def oidc_settings(settings: Any) -> Callable[[str], None]:
    def configure(jwks_endpoint: str) -> None:
        settings.OIDC_RP_CLIENT_ID = "crm-client"
        settings.OIDC_RP_CLIENT_SECRET = "not-a-secret"
        settings.OIDC_OP_TOKEN_ENDPOINT = "https://idp.example.com/oauth/token"
        settings.OIDC_OP_USER_ENDPOINT = "https://idp.example.com/userinfo"
        settings.OIDC_OP_JWKS_ENDPOINT = jwks_endpoint
        settings.OIDC_RP_SIGN_ALGO = "RS256"
        settings.OIDC_OP_ISSUER = "https://idp.example.com/"

    return configure


def two_sign_ins_at_once(
    jwks_reply: Reply, configure: Callable[[str], None], waiting: threading.Event
) -> tuple[Outcome, Outcome, int]:
    """Two logins look for their ID tokens' key with a cold cache: the first asks the provider,
    the second starts once it did, and the provider answers once the second waits. Returns
    both outcomes and the number of requests for the JWKS."""
    gate = Gate(jwks_reply)
    with LoopbackServer(gate.respond) as provider:
        configure(f"{provider.url}{JWKS_PATH}")
        backend = OrganizationOIDCBackend()
        id_token = make_token(RSA_KEY, issuer="https://idp.example.com/")  # Its header is read.
        first = Outcome(lambda: backend.retrieve_matching_jwk(id_token))
        assert gate.arrived.wait(WAIT)
        second = Outcome(lambda: backend.retrieve_matching_jwk(id_token))
        assert waiting.wait(WAIT)
        gate.open()
        return first.join(), second.join(), provider.requests[JWKS_PATH]


def test_two_logins_with_a_cold_cache_fetch_the_keys_once(oidc_settings, waiting):
    reply = json_reply({"keys": [RSA_KEY.jwk()]})

    first, second, fetches = two_sign_ins_at_once(reply, oidc_settings, waiting)

    assert (first.error, second.error) == (None, None)
    assert first.value.key_id == second.value.key_id == RSA_KEY.kid
    assert fetches == 1


def test_two_logins_with_a_cold_cache_share_a_failure(oidc_settings, waiting):
    first, second, fetches = two_sign_ins_at_once(Reply(500), oidc_settings, waiting)

    assert isinstance(first.error, LoginRejected)
    assert "500 Server Error" in str(first.error)
    assert isinstance(second.error, LoginRejected)
    assert "The last fetch of" in str(second.error)
    assert fetches == 1


def test_a_fetch_that_never_ends_makes_the_others_give_up(server, monkeypatch, short_deadline):
    """A fetch in progress whose request died (its mark left in the cache until it expires)."""
    monkeypatch.setattr(discovery, "WAIT_POLL_SECONDS", 0.01)
    cache.add(discovery._cache_key("jwks-fetching", server.jwks_url), True, 60)

    with pytest.raises(ProviderError, match="is being fetched by another request"):
        signing_key(server.jwks_url, RSA_KEY.kid, "RS256")

    assert server.jwks_fetches == 0
