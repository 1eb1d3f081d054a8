"""The OpenID provider harness (tests/oidc_provider.py, tests/op/server.js) against the provider
alone: a tiny HTTP server on loopback stands in for the relying party, no Django involved."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
import requests

from tests.loopback import IncomingRequest, LoopbackServer, Reply
from tests.oidc_provider import Browser, Provider, ProviderError, parse_forms, start_provider

CLIENT_ID = "harness-rp"
CLIENT_SECRET = "harness-rp-secret"
BASIC_CLIENT_ID = "harness-basic-rp"
BASIC_CLIENT_SECRET = "harness-basic-rp-secret"
CALLBACK_PATH = "/sso/callback/"
LOGGED_OUT_PATH = "/logged-out/"
BACKCHANNEL_PATH = "/sso/backchannel-logout/"


# --------------------------------------------------------------------------------------------
# a stand-in relying party that records what it receives


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]


class Receiver:
    """An HTTP server on 127.0.0.1 (port chosen by the OS) answering 200 to everything and
    recording each request."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._changed = threading.Condition()
        self.server = LoopbackServer(self._record)
        self.port = self.server.port
        self.base_url = self.server.url

    def _record(self, request: IncomingRequest) -> Reply:
        received = Received(
            method=request.method,
            path=request.path,
            query=dict(parse_qsl(request.query, keep_blank_values=True)),
            form=dict(parse_qsl(request.body.decode(), keep_blank_values=True)),
        )
        with self._changed:
            self.requests.append(received)
            self._changed.notify_all()
        return Reply(200, (("Content-Type", "text/plain"), ("Cache-Control", "no-store")), b"ok")

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float = 5.0) -> Received:
        """The first recorded request matching ``predicate``, waiting for it up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for received in self.requests:
                    if predicate(received):
                        return received
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no matching request within {timeout} s; received: {self.requests}"
                    )
                self._changed.wait(remaining)

    def close(self) -> None:
        self.server.close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def provider(
    oidc_provider_factory: Callable[..., Provider], receiver: Receiver
) -> Iterator[Provider]:
    base = receiver.base_url
    localhost = f"http://localhost:{receiver.port}"
    clients = [
        {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [base + CALLBACK_PATH],
            "post_logout_redirect_uris": [base + LOGGED_OUT_PATH],
            "backchannel_logout_uri": base + BACKCHANNEL_PATH,
            "backchannel_logout_session_required": True,
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_post",
            "id_token_signed_response_alg": "RS256",
        },
        {
            "client_id": BASIC_CLIENT_ID,
            "client_secret": BASIC_CLIENT_SECRET,
            "redirect_uris": [localhost + CALLBACK_PATH],
            "post_logout_redirect_uris": [localhost + LOGGED_OUT_PATH],
            "backchannel_logout_session_required": True,
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "id_token_signed_response_alg": "RS256",
        },
    ]
    op = oidc_provider_factory(clients)
    yield op
    assert op.stop() == 0, op.output


@pytest.fixture
def browser() -> Iterator[Browser]:
    with Browser() as agent:
        yield agent


# --------------------------------------------------------------------------------------------
# helpers


def authorize(
    browser: Browser,
    provider: Provider,
    *,
    redirect_uri: str,
    client_id: str = CLIENT_ID,
    prompt: str | None = None,
    organization: str | None = None,
    scope: str = "openid email",
    stop_at: str | None = None,
) -> tuple[str, str]:
    """Send the browser to the authorization endpoint; return the (state, nonce) sent."""
    state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "nonce": nonce,
    }
    if prompt is not None:
        params["prompt"] = prompt
    if organization is not None:
        params["organization"] = organization
    browser.get(provider.authorization_endpoint, params=params, stop_at=stop_at)
    return state, nonce


def callback_with_state(receiver: Receiver, state: str) -> Received:
    return receiver.wait_for(lambda r: r.path == CALLBACK_PATH and r.query.get("state") == state)


def exchange_code(
    provider: Provider, code: str, redirect_uri: str, *, basic: bool = False
) -> dict[str, Any]:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if basic:
        response = requests.post(
            provider.token_endpoint,
            data=data,
            auth=(BASIC_CLIENT_ID, BASIC_CLIENT_SECRET),
            timeout=10,
        )
    else:
        data |= {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        response = requests.post(provider.token_endpoint, data=data, timeout=10)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def decode(provider: Provider, token: str, audience: str = CLIENT_ID) -> dict[str, Any]:
    signing_key = jwt.PyJWKClient(provider.jwks_uri).get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        signing_key.key,
        algorithms=["RS256"],
        audience=audience,
        issuer=provider.issuer,
    )
    return claims


def sign_in(
    browser: Browser,
    provider: Provider,
    receiver: Receiver,
    login: str = "alice@acme.example",
    organization: str | None = "org_acme",
) -> tuple[dict[str, Any], str]:
    """Log in through the provider's form; return the ID token claims and the raw ID token."""
    redirect_uri = receiver.base_url + CALLBACK_PATH
    state, nonce = authorize(
        browser, provider, redirect_uri=redirect_uri, organization=organization
    )
    assert browser.on_login_page(), browser.text
    browser.login(login)
    assert browser.url.startswith(redirect_uri)
    callback = callback_with_state(receiver, state)
    tokens = exchange_code(provider, callback.query["code"], redirect_uri)
    claims = decode(provider, tokens["id_token"])
    assert claims["nonce"] == nonce
    return claims, tokens["id_token"]


# --------------------------------------------------------------------------------------------
# tests


def test_discovery_advertises_what_the_relying_parties_use(provider: Provider) -> None:
    discovery = provider.discovery
    assert discovery["issuer"] == provider.issuer
    assert provider.issuer.startswith("http://127.0.0.1:")
    assert discovery["backchannel_logout_supported"] is True
    assert discovery["backchannel_logout_session_supported"] is True
    assert discovery["end_session_endpoint"] == provider.issuer + "/session/end"
    assert {"openid", "email", "profile"} <= set(discovery["scopes_supported"])
    assert {"sub", "email", "org_id", "sid"} <= set(discovery["claims_supported"])
    assert "RS256" in discovery["id_token_signing_alg_values_supported"]
    jwks = requests.get(provider.jwks_uri, timeout=10).json()
    assert [(key["kty"], key["alg"], key["use"]) for key in jwks["keys"]] == [
        ("RSA", "RS256", "sig")
    ]
    assert "d" not in jwks["keys"][0]


def test_login_code_exchange_and_id_token_claims(
    provider: Provider, receiver: Receiver, browser: Browser
) -> None:
    redirect_uri = receiver.base_url + CALLBACK_PATH
    state, nonce = authorize(browser, provider, redirect_uri=redirect_uri, organization="org_acme")
    assert browser.on_login_page()
    assert "/interaction/" in browser.url

    browser.login("alice@acme.example")

    assert browser.url.startswith(redirect_uri)
    assert any("/interaction/" in url for url in browser.visited)
    callback = callback_with_state(receiver, state)
    assert set(callback.query) >= {"code", "state"}
    assert callback.query["iss"] == provider.issuer  # RFC 9207, sent by oidc-provider
    tokens = exchange_code(provider, callback.query["code"], redirect_uri)
    assert tokens["token_type"].lower() == "bearer"

    header = jwt.get_unverified_header(tokens["id_token"])
    assert header["alg"] == "RS256"
    claims = decode(provider, tokens["id_token"])
    assert claims["iss"] == provider.issuer
    assert claims["aud"] == CLIENT_ID
    assert claims["sub"] == "alice@acme.example"
    assert claims["email"] == "alice@acme.example"
    assert claims["email_verified"] is True
    assert claims["org_id"] == "org_acme"
    assert claims["nonce"] == nonce
    assert isinstance(claims["sid"], str)
    assert claims["sid"]


def test_silent_prompt_none_reuses_the_session_and_its_org_id(
    provider: Provider, receiver: Receiver, browser: Browser
) -> None:
    first, _id_token = sign_in(browser, provider, receiver)
    redirect_uri = receiver.base_url + CALLBACK_PATH

    # A silent re-check, without the organization parameter: no form, same session, same org.
    browser.clear()
    state, nonce = authorize(browser, provider, redirect_uri=redirect_uri, prompt="none")
    assert not any("/interaction/" in url for url in browser.visited), browser.visited
    assert browser.url.startswith(redirect_uri)
    callback = callback_with_state(receiver, state)
    assert "error" not in callback.query
    tokens = exchange_code(provider, callback.query["code"], redirect_uri)
    claims = decode(provider, tokens["id_token"])
    assert claims["nonce"] == nonce
    assert (claims["sub"], claims["sid"], claims["org_id"]) == (
        first["sub"],
        first["sid"],
        "org_acme",
    )

    # Another organization in a later request replaces the one remembered.
    state, _nonce = authorize(
        browser, provider, redirect_uri=redirect_uri, prompt="none", organization="org_other"
    )
    callback = callback_with_state(receiver, state)
    tokens = exchange_code(provider, callback.query["code"], redirect_uri)
    claims = decode(provider, tokens["id_token"])
    assert claims["org_id"] == "org_other"


def test_login_name_without_domain_and_request_without_organization(
    provider: Provider, receiver: Receiver, browser: Browser
) -> None:
    claims, _id_token = sign_in(browser, provider, receiver, login="bob", organization=None)
    assert claims["sub"] == "bob"
    assert claims["email"] == "bob@example.com"
    assert "org_id" not in claims


def test_rp_initiated_logout_notifies_the_backchannel_and_ends_the_session(
    provider: Provider, receiver: Receiver, browser: Browser
) -> None:
    claims, id_token = sign_in(browser, provider, receiver, login="carol@acme.example")
    redirect_uri = receiver.base_url + CALLBACK_PATH
    post_logout_redirect_uri = receiver.base_url + LOGGED_OUT_PATH
    logout_state = secrets.token_urlsafe(8)

    browser.clear()
    browser.get(
        provider.end_session_endpoint,
        params={
            "id_token_hint": id_token,
            "post_logout_redirect_uri": post_logout_redirect_uri,
            "state": logout_state,
        },
    )
    assert browser.response.status_code == 200
    assert 'id="op.logoutForm"' in browser.text
    browser.confirm_logout()

    assert browser.url == f"{post_logout_redirect_uri}?state={logout_state}"
    assert browser.visited[-2] == provider.issuer + "/session/end/confirm"
    receiver.wait_for(lambda r: r.path == LOGGED_OUT_PATH and r.query.get("state") == logout_state)

    # The back-channel logout reached the loopback receiver (before the redirect, in fact).
    backchannel = receiver.wait_for(
        lambda r: (
            r.method == "POST"
            and r.path == BACKCHANNEL_PATH
            and r.form.get("logout_token") is not None
            and jwt.decode(r.form["logout_token"], options={"verify_signature": False}).get("sid")
            == claims["sid"]
        )
    )
    logout_token = backchannel.form["logout_token"]
    assert jwt.get_unverified_header(logout_token)["typ"] == "logout+jwt"
    logout_claims = decode(provider, logout_token)
    assert logout_claims["sub"] == "carol@acme.example"
    assert logout_claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
    assert "nonce" not in logout_claims
    assert logout_claims["jti"]
    provider.wait_for_output(rf"^BACKCHANNEL OK {CLIENT_ID} {claims['sid']}$")

    # The OP session is gone: a silent re-check now fails.
    browser.clear()
    state, _nonce = authorize(browser, provider, redirect_uri=redirect_uri, prompt="none")
    callback = callback_with_state(receiver, state)
    assert callback.query["error"] == "login_required"
    assert "code" not in callback.query


def test_localhost_redirect_uri_and_client_secret_basic(
    provider: Provider, receiver: Receiver, browser: Browser
) -> None:
    redirect_uri = f"http://localhost:{receiver.port}{CALLBACK_PATH}"
    state, nonce = authorize(
        browser,
        provider,
        client_id=BASIC_CLIENT_ID,
        redirect_uri=redirect_uri,
        organization="org_basic",
        stop_at=redirect_uri,
    )
    browser.login("dave@basic.example", stop_at=redirect_uri)

    # stop_at: the browser did not follow the redirect to the relying party.
    assert browser.last_location is not None
    assert browser.visited[-1] == browser.last_location
    assert browser.response.status_code in {302, 303}
    query = dict(parse_qsl(urlsplit(browser.last_location).query))
    assert query["state"] == state
    tokens = exchange_code(provider, query["code"], redirect_uri, basic=True)
    claims = decode(provider, tokens["id_token"], audience=BASIC_CLIENT_ID)
    assert (claims["sub"], claims["org_id"], claims["nonce"]) == (
        "dave@basic.example",
        "org_basic",
        nonce,
    )
    assert "sid" not in claims  # no backchannel_logout_uri: oidc-provider leaves sid out


def test_start_provider_shows_the_output_of_a_process_that_dies() -> None:
    with pytest.raises(ProviderError, match=r"exited with status 2(.|\n)*OP_CLIENTS is not valid"):
        start_provider([], env={"OP_CLIENTS": "not json"})


def test_provider_stops_cleanly_on_sigterm() -> None:
    with start_provider([]) as op:
        assert op.running
        assert op.discovery["issuer"] == op.issuer
    assert not op.running
    assert op.process.returncode == 0, op.output


def test_form_parser_follows_form_attributes_and_detects_auto_submit() -> None:
    logout_page = """
        <form id="op.logoutForm" method="post" action="/session/end/confirm">
          <input type="hidden" name="xsrf" value="a&amp;b"/></form>
        <button type="submit" form="op.logoutForm" value="yes" name="logout">Yes</button>
        <button type="submit" form="op.logoutForm">No</button>
        <form action="https://elsewhere.example/search"><input name="q"></form>
    """
    confirm, search = parse_forms(logout_page, "http://127.0.0.1:5000/session/end?x=1")
    assert (confirm.id, confirm.method, confirm.action) == (
        "op.logoutForm",
        "POST",
        "http://127.0.0.1:5000/session/end/confirm",
    )
    assert confirm.fields == {"xsrf": "a&b"}
    assert confirm.buttons == [("logout", "yes")]
    assert not confirm.auto_submit
    assert (search.method, search.action, search.fields) == (
        "GET",
        "https://elsewhere.example/search",
        {"q": ""},
    )

    form_post_page = """<html><head><script>
        document.addEventListener('DOMContentLoaded', function () { document.forms[0].submit() });
        </script></head><body><form method="post" action="http://127.0.0.1:9/cb">
        <input type="hidden" name="code" value="c"/></form></body></html>"""
    [form] = parse_forms(form_post_page, "http://127.0.0.1:5000/auth")
    assert form.auto_submit
    assert form.fields == {"code": "c"}
