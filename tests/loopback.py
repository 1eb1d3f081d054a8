"""A threaded HTTP server on loopback for the tests: it answers each request with what a function
of that request returns (:class:`LoopbackServer`), and :func:`json_reply` for the usual answer.
"""

from __future__ import annotations

import json
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass(frozen=True)
class IncomingRequest:
    """One request: ``path`` without the query, ``query`` the raw query string."""

    method: str
    path: str
    query: str
    headers: Message
    body: bytes


@dataclass(frozen=True)
class Reply:
    """An answer, sent ``delay`` seconds after the request was read; its ``Content-Length`` is
    added."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    delay: float = 0.0


def json_reply(document: Any, status: int = 200) -> Reply:
    """``document`` as JSON (bytes are sent as they are), as ``application/json``."""
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return Reply(status, (("Content-Type", "application/json"),), body)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # Connections kept alive, as most applications' servers do.

    def _answer(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        request = IncomingRequest(self.command, path, query, self.headers, self.rfile.read(length))
        reply = self.server.answer(request)
        if reply.delay:
            time.sleep(reply.delay)  # The scripted slowness of an application.
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent."""


class _Server(ThreadingHTTPServer):
    #: socketserver's default backlog is 5: a fan-out opening dozens of connections at once
    #: would see SYNs dropped and retried a second later, as no real server does.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], answer: Callable[[IncomingRequest], Reply]):
        self.answer = answer
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its answer is not an error here; any other error is
        printed as usual."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LoopbackServer:
    """Answers every request with ``respond(request)``, from now until :meth:`close`, on
    ``address`` (any of 127.0.0.0/8) and ``port`` (0: one the system chooses), over HTTPS with
    ``tls``. Each connection is served in a daemon thread; nothing is logged. ``requests``
    counts the requests per path.
    """

    def __init__(
        self,
        respond: Callable[[IncomingRequest], Reply],
        *,
        address: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.requests: Counter[str] = Counter()
        self._respond = respond
        self._lock = threading.Lock()
        self._server = _Server((address, port), self._count_and_respond)
        if tls is not None:  # HTTPS: the handshake is made as each connection is accepted.
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        self.url = f"{'https' if tls else 'http'}://{address}:{self.port}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def _count_and_respond(self, request: IncomingRequest) -> Reply:
        with self._lock:
            self.requests[request.path] += 1
        return self._respond(request)

    def close(self) -> None:
        """Stop listening: connections are refused from now on. Closing again does nothing."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
