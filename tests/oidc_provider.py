"""A real OpenID provider for tests, and a user agent to drive it.

pytest plugin: register it with ``pytest_plugins = ["tests.oidc_provider"]``.

- :func:`start_provider` runs ``tests/op/server.js`` (node-oidc-provider, see
  ``tests/op/package.json``) on loopback with the given clients and returns a :class:`Provider`.
- The session-scoped fixture ``oidc_provider_factory`` starts providers on demand and stops them
  all at the end of the session.
- :class:`Browser` is a user agent on top of ``requests.Session``: it follows redirects one hop
  at a time (recording every URL it visits), submits HTML forms generically, completes the
  provider's development login form (:meth:`Browser.login`) and its logout confirmation
  (:meth:`Browser.confirm_logout`).

Node.js and npm are required: when they are missing the tests fail with a message (they are never
skipped).

PYTEST_DONT_REWRITE: its helpers raise AssertionError with their own messages; this also keeps
pytest quiet when a test module imports it before registering it as a plugin.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests

OP_DIR = Path(__file__).resolve().parent / "op"
SERVER_JS = OP_DIR / "server.js"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
REQUEST_TIMEOUT = 15.0
NPM_CI_TIMEOUT = 300.0

__all__ = [
    "Browser",
    "Form",
    "Provider",
    "ProviderError",
    "ensure_node_modules",
    "oidc_provider_factory",
    "parse_forms",
    "start_provider",
]


class ProviderError(RuntimeError):
    """The provider could not be started (the message carries its output)."""


# --------------------------------------------------------------------------------------------
# node_modules


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` was not found on PATH: the OpenID provider used by these tests "
            f"(tests/op/server.js) needs Node.js 20+ and npm. Install them (e.g. "
            f"`apt-get install nodejs npm`) and run the tests again.",
            pytrace=False,
        )
    return path


def _pinned_version() -> str | None:
    package = json.loads((OP_DIR / "package.json").read_text())
    version = package.get("dependencies", {}).get("oidc-provider")
    return str(version) if version else None


def _installed_version() -> str | None:
    installed = OP_DIR / "node_modules" / "oidc-provider" / "package.json"
    if not installed.is_file():
        return None
    return str(json.loads(installed.read_text()).get("version"))


def ensure_node_modules() -> None:
    """Install ``tests/op/node_modules`` from the lockfile (``npm ci``) when it is missing.

    Also reinstalls when the installed ``oidc-provider`` is not the version pinned in
    ``package.json``. Fails the test (never skips) when ``node`` or ``npm`` is missing or the
    install fails. Safe to call from several processes at once (a file lock serializes them).
    """
    _require_tool("node")
    if _installed_version() is not None and _installed_version() == _pinned_version():
        return
    npm = _require_tool("npm")
    lock_name = "logout-sso-op-" + hashlib.sha256(str(OP_DIR).encode()).hexdigest()[:16] + ".lock"
    with (Path(tempfile.gettempdir()) / lock_name).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_version() is not None and _installed_version() == _pinned_version():
            return  # another process installed it meanwhile
        try:
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=OP_DIR,
                capture_output=True,
                text=True,
                timeout=NPM_CI_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            pytest.fail(f"`npm ci` in {OP_DIR} did not finish in {error.timeout:.0f} s", False)
        if result.returncode != 0 or _installed_version() is None:
            pytest.fail(
                f"`npm ci --no-audit --no-fund` in {OP_DIR} failed (exit {result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}",
                pytrace=False,
            )


# --------------------------------------------------------------------------------------------
# the provider process


@dataclass
class Provider:
    """A running ``tests/op/server.js``; stop it with :meth:`stop` or use it as a context."""

    issuer: str
    discovery: dict[str, Any]
    clients: list[dict[str, Any]]
    process: subprocess.Popen[str]
    _output: list[str] = field(default_factory=list, repr=False)
    _output_changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _reader: threading.Thread | None = field(default=None, repr=False)

    # endpoints, from the discovery document
    @property
    def authorization_endpoint(self) -> str:
        return str(self.discovery["authorization_endpoint"])

    @property
    def token_endpoint(self) -> str:
        return str(self.discovery["token_endpoint"])

    @property
    def end_session_endpoint(self) -> str:
        return str(self.discovery["end_session_endpoint"])

    @property
    def jwks_uri(self) -> str:
        return str(self.discovery["jwks_uri"])

    @property
    def userinfo_endpoint(self) -> str:
        return str(self.discovery["userinfo_endpoint"])

    @property
    def output(self) -> str:
        """Everything the process printed so far (stdout and stderr)."""
        with self._output_changed:
            return "".join(self._output)

    def wait_for_output(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait until the process printed a line matching ``pattern`` (a regex); return it."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        with self._output_changed:
            while True:
                match = regex.search("".join(self._output))
                if match:
                    return match
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"the provider printed no line matching {pattern!r} in {timeout} s; "
                        f"its output:\n{''.join(self._output)}"
                    )
                self._output_changed.wait(min(remaining, 0.5))

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        """Stop the process (SIGTERM, then SIGKILL after 10 s); return its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        if self._reader is not None:
            self._reader.join(STOP_TIMEOUT)
        if self.process.stdout is not None and not self._reader_alive():
            self.process.stdout.close()
        return self.process.returncode

    def _reader_alive(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def __enter__(self) -> Provider:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _read_output(
    process: subprocess.Popen[str], lines: list[str], changed: threading.Condition
) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        with changed:
            lines.append(line)
            changed.notify_all()
    with changed:
        changed.notify_all()


def start_provider(
    clients: list[dict[str, Any]],
    port: int | None = None,
    *,
    issuer: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Provider:
    """Start an OpenID provider on ``127.0.0.1`` with these clients and wait until it serves.

    ``port=None`` lets the OS choose a free port (the issuer names it). ``clients`` are client
    metadata objects (``client_id``, ``client_secret``, ``redirect_uris``,
    ``post_logout_redirect_uris``, ``backchannel_logout_uri``, ...), see ``tests/op/server.js``.
    Waits at most 30 s for its ``READY`` line; raises :class:`ProviderError` with the process's
    output when it dies or does not get ready, and stops it in the latter case.
    """
    ensure_node_modules()
    node = _require_tool("node")
    process_env = dict(os.environ)
    process_env.update(
        {
            "OP_PORT": str(port or 0),
            "OP_CLIENTS": json.dumps(clients),
            "NODE_NO_WARNINGS": "1",
        }
    )
    if issuer is not None:
        process_env["OP_ISSUER"] = issuer
    process_env.update(env or {})
    process = subprocess.Popen(
        [node, str(SERVER_JS)],
        cwd=OP_DIR,
        env=process_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines: list[str] = []
    changed = threading.Condition()
    reader = threading.Thread(
        target=_read_output,
        args=(process, lines, changed),
        name="oidc-provider-output",
        daemon=True,
    )
    reader.start()

    ready_issuer: str | None = None
    deadline = time.monotonic() + START_TIMEOUT
    with changed:
        while ready_issuer is None:
            for line in lines:
                if line.startswith("READY "):
                    ready_issuer = line.removeprefix("READY ").strip()
                    break
            else:
                if process.poll() is not None and not reader.is_alive():
                    assert process.stdout is not None
                    process.stdout.close()
                    raise ProviderError(
                        f"the OpenID provider exited with status {process.returncode} before "
                        f"it was ready; its output:\n{''.join(lines)}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                changed.wait(min(remaining, 0.2))
    if ready_issuer is None:
        provider_output = "".join(lines)
        process.kill()
        process.wait(STOP_TIMEOUT)
        reader.join(STOP_TIMEOUT)
        if process.stdout is not None and not reader.is_alive():
            process.stdout.close()
        raise ProviderError(
            f"the OpenID provider was not ready after {START_TIMEOUT:.0f} s; its output:\n"
            f"{provider_output}"
        )

    provider = Provider(
        issuer=ready_issuer,
        discovery={},
        clients=clients,
        process=process,
        _output=lines,
        _output_changed=changed,
        _reader=reader,
    )
    try:
        with requests.Session() as http:
            http.trust_env = False
            response = http.get(
                ready_issuer.rstrip("/") + "/.well-known/openid-configuration",
                timeout=REQUEST_TIMEOUT,
            )
            response.raise_for_status()
            provider.discovery = response.json()
    except Exception as error:
        provider.stop()
        raise ProviderError(
            f"the OpenID provider's discovery document could not be read: {error}; its output:\n"
            f"{provider.output}"
        ) from error
    return provider


@pytest.fixture(scope="session")
def oidc_provider_factory() -> Iterator[Callable[..., Provider]]:
    """Start OpenID providers on demand: ``factory(clients, port=None, **kwargs) -> Provider``.

    Every provider started through it is stopped at the end of the test session (a test may stop
    one earlier with ``provider.stop()``).
    """
    started: list[Provider] = []

    def factory(clients: list[dict[str, Any]], port: int | None = None, **kwargs: Any) -> Provider:
        provider = start_provider(clients, port, **kwargs)
        started.append(provider)
        return provider

    yield factory
    for provider in started:
        provider.stop()


# --------------------------------------------------------------------------------------------
# HTML forms


@dataclass
class Form:
    """An HTML form: where it goes and the fields a browser would send by default."""

    action: str  # absolute URL
    method: str  # "GET" or "POST"
    id: str | None = None
    fields: dict[str, str] = field(default_factory=dict)  # hidden/text/password/... inputs
    buttons: list[tuple[str, str]] = field(default_factory=list)  # named submit buttons
    auto_submit: bool = False  # the page submits it by script on load (form_post)

    def has_field(self, name: str) -> bool:
        return name in self.fields


_FIELD_INPUT_TYPES = {
    "hidden",
    "text",
    "password",
    "email",
    "search",
    "tel",
    "url",
    "number",
    "",
}


class _FormParser(HTMLParser):
    """Collect the forms of a page with their fields, including elements outside a form that
    name it with a ``form="id"`` attribute (as node-oidc-provider's logout buttons do)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base_url = base_url
        self.forms: list[Form] = []
        self._current: Form | None = None
        self._orphans: list[tuple[str, str, str, str]] = []  # (form id, kind, name, value)
        self._in_script = False
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._current = Form(
                action=urljoin(self.base_url, attributes.get("action") or self.base_url),
                method=(attributes.get("method") or "get").upper(),
                id=attributes.get("id"),
            )
            self.forms.append(self._current)
        elif tag == "script":
            self._in_script = True
            self.scripts.append("")
        elif tag in {"input", "button", "textarea", "select"}:
            self._add_control(tag, attributes)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data

    def _add_control(self, tag: str, attributes: dict[str, str]) -> None:
        name = attributes.get("name")
        if not name or "disabled" in attributes:
            return
        input_type = attributes.get("type", "").lower()
        value = attributes.get("value", "")
        if tag == "button" or input_type in {"submit", "image"}:
            if tag == "button" and input_type not in {"", "submit"}:
                return
            kind = "button"
        elif tag == "input" and input_type in {"checkbox", "radio"}:
            if "checked" not in attributes:
                return
            kind = "field"
            value = value or "on"
        elif tag == "input" and input_type not in _FIELD_INPUT_TYPES:
            return
        else:
            kind = "field"
        owner = attributes.get("form")
        if owner:
            self._orphans.append((owner, kind, name, value))
        elif self._current is not None:
            self._add(self._current, kind, name, value)

    @staticmethod
    def _add(form: Form, kind: str, name: str, value: str) -> None:
        if kind == "button":
            form.buttons.append((name, value))
        else:
            form.fields[name] = value

    def close(self) -> None:
        super().close()
        for owner, kind, name, value in self._orphans:
            for form in self.forms:
                if form.id == owner:
                    self._add(form, kind, name, value)
        if len(self.forms) == 1 and any(".submit()" in script for script in self.scripts):
            self.forms[0].auto_submit = True


def parse_forms(html: str, base_url: str) -> list[Form]:
    """The forms of an HTML page, their actions resolved against ``base_url``."""
    parser = _FormParser(base_url)
    parser.feed(html)
    parser.close()
    return parser.forms


# --------------------------------------------------------------------------------------------
# the user agent

_REDIRECT_STATUSES = {301, 302, 303, 307, 308}


class Browser:
    """A user agent across the provider and relying parties on loopback.

    Built on a ``requests.Session`` (:attr:`session`, which keeps the cookies of every host).
    It follows redirects itself, one hop at a time, and records every URL it requested in
    :attr:`visited` (in order) and every response in :attr:`responses`; :attr:`response` and
    :attr:`url` are the last ones. Pages that submit their only form by script on load (the
    provider's ``form_post`` pages) are submitted as a browser with JavaScript would.
    """

    def __init__(
        self,
        session: requests.Session | None = None,
        *,
        max_hops: int = 20,
        timeout: float = REQUEST_TIMEOUT,
        auto_submit: bool = True,
    ) -> None:
        self.session = session or requests.Session()
        self.session.trust_env = False  # never send loopback traffic to a proxy from the env
        self.max_hops = max_hops
        self.timeout = timeout
        self.auto_submit = auto_submit
        self.visited: list[str] = []
        self.responses: list[requests.Response] = []
        self._response: requests.Response | None = None
        self.last_location: str | None = None

    # state ----------------------------------------------------------------------------------

    @property
    def response(self) -> requests.Response:
        if self._response is None:
            raise AssertionError("the browser has not loaded any page yet")
        return self._response

    @property
    def url(self) -> str:
        """The URL of the current page (the last URL requested)."""
        return self.response.url

    @property
    def text(self) -> str:
        return self.response.text

    def forms(self) -> list[Form]:
        """The forms of the current page."""
        content_type = self.response.headers.get("content-type", "")
        if "html" not in content_type:
            return []
        return parse_forms(self.response.text, self.url)

    def find_form(self, predicate: Callable[[Form], bool]) -> Form | None:
        return next((form for form in self.forms() if predicate(form)), None)

    def clear(self) -> None:
        """Forget the visited URLs and responses (cookies are kept)."""
        self.visited.clear()
        self.responses.clear()

    # navigation -------------------------------------------------------------------------------

    def get(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        *,
        stop_at: str | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """GET ``url`` and follow redirects; returns the final response.

        ``stop_at``: a URL prefix not to follow a redirect to (e.g. a relying party that is not
        running); the browser then stays on the redirect response and records the target URL in
        :attr:`visited`, where :attr:`last_location` also gives it.
        """
        return self.request("GET", url, params=params, stop_at=stop_at, **kwargs)

    def post(
        self,
        url: str,
        data: Mapping[str, str] | None = None,
        *,
        stop_at: str | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """POST a form-encoded body to ``url`` and follow redirects."""
        return self.request("POST", url, data=data, stop_at=stop_at, **kwargs)

    def request(
        self,
        method: str,
        url: str,
        *,
        stop_at: str | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        kwargs["allow_redirects"] = False
        self.last_location = None
        for _hop in range(self.max_hops + 1):
            response = self.session.request(method, url, **kwargs)
            self.visited.append(response.url)
            self.responses.append(response)
            self._response = response
            location = response.headers.get("location")
            if response.status_code in _REDIRECT_STATUSES and location:
                target = urljoin(response.url, location)
                if stop_at is not None and target.startswith(stop_at):
                    self.last_location = target
                    self.visited.append(target)
                    return response
                if response.status_code == 303 or (
                    response.status_code in {301, 302} and method != "HEAD"
                ):
                    method = "GET"
                    kwargs.pop("data", None)
                    kwargs.pop("json", None)
                kwargs.pop("params", None)  # they are in the Location already
                url = target
                continue
            if self.auto_submit:
                forms = self.forms()
                if len(forms) == 1 and forms[0].auto_submit:
                    form = forms[0]
                    method, url = form.method, form.action
                    kwargs.pop("json", None)
                    kwargs.pop("params", None)
                    if method == "POST":
                        kwargs["data"] = dict(form.fields)
                    else:
                        kwargs.pop("data", None)
                        kwargs["params"] = dict(form.fields)
                    continue
            return response
        raise AssertionError(f"more than {self.max_hops} redirects; visited: {self.visited}")

    def submit(
        self,
        form: Form,
        values: Mapping[str, str] | None = None,
        *,
        button: tuple[str, str] | None = None,
        stop_at: str | None = None,
    ) -> requests.Response:
        """Submit ``form`` with its default fields updated by ``values`` (and the named submit
        ``button``, if given) and follow redirects."""
        data = dict(form.fields)
        data.update(values or {})
        if button is not None:
            data[button[0]] = button[1]
        if form.method == "POST":
            return self.post(form.action, data, stop_at=stop_at)
        return self.get(form.action, params=data, stop_at=stop_at)

    # the provider's pages ---------------------------------------------------------------------

    def on_login_page(self) -> bool:
        """Whether the current page is the provider's devInteractions login form."""
        return self._login_form() is not None

    def on_consent_page(self) -> bool:
        return self._consent_form() is not None

    def _login_form(self) -> Form | None:
        return self.find_form(lambda f: f.fields.get("prompt") == "login" and "login" in f.fields)

    def _consent_form(self) -> Form | None:
        return self.find_form(lambda f: f.fields.get("prompt") == "consent")

    def login(
        self, login_name: str, password: str | None = None, *, stop_at: str | None = None
    ) -> requests.Response:
        """Complete the provider's login form as ``login_name`` (any login works), then its
        consent form if it is shown; returns the final response (usually the relying party's
        callback, once redirects are followed)."""
        form = self._login_form()
        if form is None:
            raise AssertionError(
                f"the current page ({self.url}, {self.response.status_code}) is not the "
                f"provider's login form:\n{self.text[:2000]}"
            )
        values = {"login": login_name, "password": password or "any password works"}
        self.submit(form, values, stop_at=stop_at)
        if self.last_location is None:
            self.consent(stop_at=stop_at, required=False)
        return self.response

    def consent(self, *, stop_at: str | None = None, required: bool = True) -> requests.Response:
        """Confirm the provider's consent form (``required=False``: only if it is shown)."""
        form = self._consent_form()
        if form is None:
            if required:
                raise AssertionError(
                    f"the current page ({self.url}) is not the provider's consent form:\n"
                    f"{self.text[:2000]}"
                )
            return self.response
        return self.submit(form, stop_at=stop_at)

    def confirm_logout(self, *, stop_at: str | None = None) -> requests.Response:
        """Submit the provider's logout confirmation (``form#op.logoutForm``: hidden ``xsrf``,
        POST to ``/session/end/confirm`` with ``logout=yes``) and follow redirects."""
        form = self.find_form(lambda f: urlsplit(f.action).path.endswith("/session/end/confirm"))
        if form is None:
            raise AssertionError(
                f"the current page ({self.url}, {self.response.status_code}) is not the "
                f"provider's logout confirmation:\n{self.text[:2000]}"
            )
        button = next(((n, v) for n, v in form.buttons if n == "logout"), ("logout", "yes"))
        return self.submit(form, button=button, stop_at=stop_at)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
