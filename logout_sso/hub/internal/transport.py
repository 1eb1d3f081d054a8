"""Many form POSTs at once, from one thread, over libcurl's multi interface (pycurl).

A pure-Python HTTP client spends hundreds of microseconds of CPU per request under the GIL, and
that is what bounded a fan-out to a hundred applications on two cores; libcurl does every
transfer's I/O in C, driven here by the standard library's selector (epoll where there is one).
Connections stay alive between fan-outs in the multi handle's cache. There is one multi handle
per thread and per process: a Celery prefork child builds its own after the fork.
"""

from __future__ import annotations

import os
import selectors
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import certifi
import pycurl
from django.utils import timezone

from logout_sso.hub.internal.addresses import refusal

Key = TypeVar("Key")

#: How much of a response body is kept (for the admin); the rest is not read.
EXCERPT_BYTES = 300
#: Transfers started between two turns of the loop: the first requests leave while the later
#: ones are being set up, without a turn of the loop for each.
START_STEP = 10
#: The longest wait for a socket when neither libcurl's timer nor an answer is due sooner.
IDLE_WAIT_SECONDS = 1.0

#: libcurl's errors for a TLS certificate it cannot trust, or a CA bundle it cannot read.
_UNTRUSTED = {pycurl.E_PEER_FAILED_VERIFICATION, pycurl.E_SSL_CACERT_BADFILE}

_EVENTS = {
    pycurl.POLL_IN: selectors.EVENT_READ,
    pycurl.POLL_OUT: selectors.EVENT_WRITE,
    pycurl.POLL_INOUT: selectors.EVENT_READ | selectors.EVENT_WRITE,
}


@dataclass(frozen=True)
class Request:
    """One ``application/x-www-form-urlencoded`` POST."""

    url: str
    body: bytes
    #: Seconds to connect, then seconds for the answer once the request can be sent.
    connect_timeout: float
    read_timeout: float
    #: Whether loopback, private and link-local addresses may be connected to.
    allow_private_addresses: bool = False
    #: The PEM file of the certificate authorities trusted for HTTPS (None: certifi's).
    ca_bundle: str | None = None


@dataclass(frozen=True)
class Response:
    """What one POST came to: an HTTP status, or an error before there was one."""

    status: int | None
    body: str = ""
    retry_after: str | None = None
    error: str = ""
    #: No request was sent, and trying again cannot help: every address of the host was
    #: refused (not public), or the application's TLS certificate could not be verified.
    refused: bool = False
    finished_at: datetime = field(default_factory=timezone.now)


class _Transfer(Generic[Key]):
    """One request on its easy handle, and what has come back so far."""

    def __init__(self, key: Key, request: Request) -> None:
        self.key = key
        self.request = request
        self.body = bytearray()
        self.cut = False
        self.retry_after: str | None = None
        self.refused = ""
        #: When the answer is overdue (set once connected: libcurl has only a total timeout).
        self.answer_due: float | None = None
        self.handle = handle = pycurl.Curl()
        handle.setopt(pycurl.URL, request.url)
        handle.setopt(pycurl.POSTFIELDS, request.body)
        # No "Expect: 100-continue" round trip for a token of a few hundred bytes.
        handle.setopt(
            pycurl.HTTPHEADER, ["Content-Type: application/x-www-form-urlencoded", "Expect:"]
        )
        handle.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        handle.setopt(pycurl.FOLLOWLOCATION, 0)
        handle.setopt(pycurl.PROXY, "")  # Never a proxy from the environment: it would connect.
        handle.setopt(pycurl.CAINFO, request.ca_bundle or certifi.where())
        handle.setopt(pycurl.NOSIGNAL, 1)
        handle.setopt(pycurl.CONNECTTIMEOUT_MS, _milliseconds(request.connect_timeout))
        total = request.connect_timeout + request.read_timeout
        handle.setopt(pycurl.TIMEOUT_MS, _milliseconds(total))
        handle.setopt(pycurl.OPENSOCKETFUNCTION, self._open_socket)
        handle.setopt(pycurl.PREREQFUNCTION, self._connected)
        handle.setopt(pycurl.WRITEFUNCTION, self._write)
        handle.setopt(pycurl.HEADERFUNCTION, self._header)

    def _open_socket(self, purpose: int, address: Any) -> socket.socket | int:
        """libcurl is about to connect to ``address``: only if it may (a checked address is the
        one connected to; libcurl resolved the name, concurrently with the other transfers)."""
        host = urlsplit(self.request.url).hostname or ""
        reason = refusal(host, address.addr[0], allow_private=self.request.allow_private_addresses)
        if reason is not None:
            self.refused = reason
            return int(pycurl.SOCKET_BAD)
        return socket.socket(address.family, address.socktype, address.protocol)

    def _connected(self, peer: str, local: str, peer_port: int, local_port: int) -> int:
        """Connected (or a kept-alive connection reused): the request is about to be sent, and
        from now on the read timeout runs."""
        self.answer_due = time.monotonic() + self.request.read_timeout
        return int(pycurl.PREREQFUNC_OK)

    def _write(self, chunk: bytes) -> int | None:
        room = EXCERPT_BYTES - len(self.body)
        self.body += chunk[:room]
        if len(chunk) > room:
            self.cut = True
            return 0  # Stop reading: libcurl ends the transfer (and drops the connection).
        return None

    def _header(self, line: bytes) -> None:
        if line.startswith(b"HTTP/"):  # A new response (after a 1xx): forget the last one's.
            self.retry_after = None
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"retry-after":
            self.retry_after = value.strip().decode("latin-1")

    def overdue(self) -> Response:
        self.handle.close()
        return Response(
            status=None,
            error=f"No answer within {self.request.read_timeout:g} seconds (read timeout).",
        )

    def response(self, error: tuple[int, str] | None) -> Response:
        status = self.handle.getinfo(pycurl.RESPONSE_CODE) or None
        os_error = self.handle.getinfo(pycurl.OS_ERRNO)
        self.handle.close()
        if error is not None and self.refused and status is None:
            return Response(status=None, error=self.refused, refused=True)
        if error is not None and not (self.cut and error[0] == pycurl.E_WRITE_ERROR):
            message = error[1]
            if os_error:  # libcurl says "Could not connect"; the system says why.
                message = f"{message} ({os.strerror(os_error)})"
            return Response(status=None, error=message, refused=error[0] in _UNTRUSTED)
        return Response(
            status=status,
            body=self.body.decode("utf-8", "replace"),
            retry_after=self.retry_after,
        )


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _next_answer_due(transfers: Iterable[_Transfer[Key]]) -> float:
    """Until when to wait for sockets: the first overdue answer, or a while."""
    dues = [transfer.answer_due for transfer in transfers if transfer.answer_due is not None]
    return min(dues, default=time.monotonic() + IDLE_WAIT_SECONDS)


def _overdue(transfers: Iterable[_Transfer[Key]]) -> list[_Transfer[Key]]:
    now = time.monotonic()
    return [t for t in transfers if t.answer_due is not None and t.answer_due <= now]


class _Loop:
    """A multi handle and the selector that watches its sockets for it."""

    def __init__(self, max_connections: int) -> None:
        self.pid = os.getpid()
        self.selector = selectors.DefaultSelector()
        self.timer_due: float | None = None
        self.multi = pycurl.CurlMulti()
        self.multi.setopt(pycurl.M_MAXCONNECTS, max_connections)
        self.multi.setopt(pycurl.M_SOCKETFUNCTION, self._watch)
        self.multi.setopt(pycurl.M_TIMERFUNCTION, self._set_timer)

    def _watch(self, what: int, fd: int, multi: object, data: object) -> None:
        events = _EVENTS.get(what)
        watched = fd in self.selector.get_map()
        if events is None:
            if watched:
                self.selector.unregister(fd)
        elif watched:
            self.selector.modify(fd, events)
        else:
            self.selector.register(fd, events)

    def _set_timer(self, timeout_ms: int) -> None:
        self.timer_due = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000

    def turn(self, wait_until: float | None) -> None:
        """Let libcurl act on the sockets that are ready, and on its timer once due; with
        ``wait_until`` (a ``time.monotonic()``), first wait for one or the other until then."""
        timeout = 0.0
        if wait_until is not None:
            due = wait_until if self.timer_due is None else min(wait_until, self.timer_due)
            timeout = max(0.0, due - time.monotonic())
        for key, mask in self.selector.select(timeout):
            action = (pycurl.CSELECT_IN if mask & selectors.EVENT_READ else 0) | (
                pycurl.CSELECT_OUT if mask & selectors.EVENT_WRITE else 0
            )
            self.multi.socket_action(key.fd, action)
        if self.timer_due is not None and self.timer_due <= time.monotonic():
            self.timer_due = None
            self.multi.socket_action(pycurl.SOCKET_TIMEOUT, 0)

    def finished(self) -> Iterator[tuple[pycurl.Curl, tuple[int, str] | None]]:
        """The handles whose transfer ended since the last call, with their error if any."""
        while True:
            queued, succeeded, failed = self.multi.info_read()
            for handle in succeeded:
                self.multi.remove_handle(handle)
                yield handle, None
            for handle, code, message in failed:
                self.multi.remove_handle(handle)
                yield handle, (code, message)
            if not queued:
                return


_local = threading.local()


def _loop(max_connections: int) -> _Loop:
    loop: _Loop | None = getattr(_local, "loop", None)
    if loop is None or loop.pid != os.getpid():  # Nothing of a parent's loop survives a fork.
        loop = _local.loop = _Loop(max_connections)
    return loop


def post_all(
    requests: Iterable[tuple[Key, Request]], max_in_flight: int
) -> Iterator[tuple[Key, Response]]:
    """POST every request, at most ``max_in_flight`` at once; yield each ``(key, response)``
    as it completes."""
    loop = _loop(max_connections=4 * max_in_flight)
    transfers: dict[pycurl.Curl, _Transfer[Key]] = {}
    pending = iter(requests)
    exhausted = False
    try:
        while not exhausted or transfers:
            started = 0
            while not exhausted and len(transfers) < max_in_flight and started < START_STEP:
                item = next(pending, None)
                if item is None:
                    exhausted = True
                    break
                transfer = _Transfer(*item)
                transfers[transfer.handle] = transfer
                loop.multi.add_handle(transfer.handle)
                started += 1
            if not transfers:  # All answered, and nothing more to send.
                break
            waiting = exhausted or len(transfers) >= max_in_flight
            loop.turn(_next_answer_due(transfers.values()) if waiting else None)
            for handle, error in loop.finished():
                transfer = transfers.pop(handle)
                yield transfer.key, transfer.response(error)
            for transfer in _overdue(transfers.values()):
                loop.multi.remove_handle(transfer.handle)  # Its connection is closed, not reused.
                del transfers[transfer.handle]
                yield transfer.key, transfer.overdue()
    finally:  # A consumer that stopped early leaves no transfer behind.
        for handle in transfers:
            loop.multi.remove_handle(handle)
            handle.close()
