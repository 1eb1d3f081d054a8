"""One HTTP request to an organization's identity provider, whose URLs its admins typed.

So no server-side request forgery through them: libcurl connects only to public addresses
(``LOGOUT_SSO["DELIVERY_ALLOW_PRIVATE_ADDRESSES"]`` aside, for development and tests), checked
just before each connection on the very address it connects to, as the hub's back-channel
logouts are; no redirect is followed, no proxy from the environment is used, only http and
https are spoken. An answer takes at most ``TOTAL_TIMEOUT_SECONDS`` and is cut, and refused, past
``MAX_ANSWER_BYTES``.

libcurl (pycurl, the ``[hub]`` extra) is imported at the first request, so that a project
which never manages a stream does not load it.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from logout_sso.conf import app_settings
from logout_sso.hub.internal.addresses import refusal

__all__ = ["Answer", "RequestFailed", "send"]

#: The longest wait for the connection to be made.
CONNECT_TIMEOUT_SECONDS = 3.05
#: The most one request (connection, request, answer) may take.
TOTAL_TIMEOUT_SECONDS = 10.0
#: A configuration, a stream or its status is a few KB: a longer answer is refused.
MAX_ANSWER_BYTES = 256 * 1024


class RequestFailed(Exception):
    """No answer: the address was refused, the connection failed, or the time ran out."""


@dataclass(frozen=True)
class Answer:
    """The status and body (at most ``MAX_ANSWER_BYTES``) of an answer."""

    status: int
    body: bytes
    content_type: str = ""

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.body)


class _Exchange:
    """What libcurl reports while it makes one request."""

    def __init__(self, url: str, allow_private: bool) -> None:
        self.host = urlsplit(url).hostname or ""
        self.allow_private = allow_private
        self.refused = ""
        self.body = bytearray()
        self.too_large = False
        self.content_type = ""

    def open_socket(self, purpose: int, address: Any) -> socket.socket | int:
        import pycurl

        reason = refusal(
            self.host,
            address.addr[0],
            allow_private=self.allow_private,
            purpose="Identity provider request",
        )
        if reason is not None:
            self.refused = reason
            return int(pycurl.SOCKET_BAD)
        return socket.socket(address.family, address.socktype, address.protocol)

    def write(self, chunk: bytes) -> int | None:
        if len(self.body) + len(chunk) > MAX_ANSWER_BYTES:
            self.too_large = True
            return 0  # libcurl stops the transfer.
        self.body += chunk
        return None

    def header(self, line: bytes) -> None:
        if line.startswith(b"HTTP/"):  # A new response (after a 1xx): forget the last one's.
            self.content_type = ""
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-type":
            self.content_type = value.strip().decode("latin-1")


def send(
    method: str, url: str, *, bearer: str = "", payload: dict[str, Any] | None = None
) -> Answer:
    """``method`` ``url`` (with ``payload`` as a JSON body, and ``bearer`` as the Authorization
    token when given); :class:`RequestFailed` when no whole answer came."""
    try:
        import certifi
        import pycurl
    except ImportError as exc:
        raise RequestFailed(
            "Talking to a transmitter needs libcurl: install django-logout-sso[hub]."
        ) from exc
    exchange = _Exchange(url, app_settings.DELIVERY_ALLOW_PRIVATE_ADDRESSES)
    headers = ["Accept: application/json", "Expect:"]
    if bearer:
        headers.append(f"Authorization: Bearer {bearer}")
    handle = pycurl.Curl()
    try:
        handle.setopt(pycurl.URL, url)
        handle.setopt(pycurl.CUSTOMREQUEST, method)
        if payload is not None:
            headers.append("Content-Type: application/json")
            handle.setopt(pycurl.POSTFIELDS, json.dumps(payload))
        elif method == "GET":
            handle.setopt(pycurl.HTTPGET, 1)
        handle.setopt(pycurl.HTTPHEADER, headers)
        handle.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        handle.setopt(pycurl.FOLLOWLOCATION, 0)
        handle.setopt(pycurl.PROXY, "")
        handle.setopt(pycurl.CAINFO, app_settings.DELIVERY_CA_BUNDLE or certifi.where())
        handle.setopt(pycurl.NOSIGNAL, 1)
        handle.setopt(pycurl.CONNECTTIMEOUT_MS, round(CONNECT_TIMEOUT_SECONDS * 1000))
        handle.setopt(pycurl.TIMEOUT_MS, round(TOTAL_TIMEOUT_SECONDS * 1000))
        handle.setopt(pycurl.OPENSOCKETFUNCTION, exchange.open_socket)
        handle.setopt(pycurl.WRITEFUNCTION, exchange.write)
        handle.setopt(pycurl.HEADERFUNCTION, exchange.header)
        try:
            handle.perform()
        except pycurl.error as exc:
            raise RequestFailed(_failure(exchange, exc.args, url)) from None
        status = int(handle.getinfo(pycurl.RESPONSE_CODE))
    finally:
        handle.close()
    return Answer(status, bytes(exchange.body), exchange.content_type)


def _failure(exchange: _Exchange, args: tuple[Any, ...], url: str) -> str:
    """Why the request to ``url`` got no answer, in a sentence."""
    import pycurl

    code, message = (*args, 0, "")[:2]
    if exchange.refused:
        return exchange.refused
    if exchange.too_large:
        return f"{url} answered more than {MAX_ANSWER_BYTES} bytes."
    if code == pycurl.E_OPERATION_TIMEDOUT:
        return f"{url} did not answer within {TOTAL_TIMEOUT_SECONDS:g} s."
    return f"Cannot reach {url}: {message}"
