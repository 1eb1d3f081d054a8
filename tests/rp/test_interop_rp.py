"""The relying party against a real, certified OpenID provider (node-oidc-provider).

Two relying parties: this test project served by pytest-django's ``live_server`` (whose clock
the tests move past the session TTL), and the example project as a separate server process.
A user signs in to both through the provider's real login form; the TTL passes and a silent
re-check succeeds; they log out of the example project; the first one's next request re-checks,
fails at the provider, and ends its local session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth.models import User

from logout_sso.models import LocalSession, LogoutEvent, Organization
from logout_sso.models.organizations import SLOMode
from tests.oidc_provider import Browser
from tests.relying_parties import Site, example_site
from tests.services import free_port

LOGIN = "alice@acme.example"
TTL = 300
RP_ONE, RP_TWO = "rp-one", "rp-two"
# The live server again, as a client whose back-channel logout URI reaches the receiver.
RP_RECEIVER = "rp-receiver"

pytestmark = pytest.mark.django_db(transaction=True)


def client(
    client_id: str,
    base_url: str,
    post_logout: str,
    backchannel_path: str = "/sso/backchannel-logout/",
) -> dict[str, object]:
    return {
        "client_id": client_id,
        "client_secret": f"{client_id}-secret",
        "redirect_uris": [f"{base_url}/sso/callback/"],
        "post_logout_redirect_uris": [post_logout],
        # The provider puts sid in ID tokens only for clients with a back-channel logout URI.
        "backchannel_logout_uri": f"{base_url}{backchannel_path}",
        "backchannel_logout_session_required": True,
        "token_endpoint_auth_method": "client_secret_basic",
    }


@pytest.fixture(scope="module")
def rp_two_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def provider(oidc_provider_factory, live_server, rp_two_port):
    rp_two_url = f"http://127.0.0.1:{rp_two_port}"
    return oidc_provider_factory(
        [
            # Without a receiver (a path that answers 404): only short-lived sessions end it.
            client(RP_ONE, live_server.url, f"{live_server.url}/signed-out/", "/no-receiver/"),
            client(RP_RECEIVER, live_server.url, f"{live_server.url}/signed-out/"),
            client(RP_TWO, rp_two_url, f"{rp_two_url}/"),
        ]
    )


@pytest.fixture(scope="module")
def rp_two(provider, rp_two_port, tmp_path_factory) -> Iterator[Site]:
    with example_site(
        tmp_path_factory.mktemp("rp-two"),
        rp_two_port,
        issuer=provider.issuer,
        client_id=RP_TWO,
        client_secret=f"{RP_TWO}-secret",
    ) as site:
        yield site


@pytest.fixture
def rp_one(settings, provider, live_server) -> str:
    """This test project as a relying party of ``provider``, with organization acme."""
    settings.AUTHENTICATION_BACKENDS = [
        "logout_sso.rp.backend.OrganizationOIDCBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    settings.OIDC_OP_ISSUER = provider.issuer
    settings.OIDC_RP_CLIENT_ID = RP_ONE
    settings.OIDC_RP_CLIENT_SECRET = f"{RP_ONE}-secret"
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_TOKEN_USE_BASIC_AUTH = True
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = provider.authorization_endpoint
    settings.OIDC_OP_TOKEN_ENDPOINT = provider.token_endpoint
    settings.OIDC_OP_USER_ENDPOINT = provider.userinfo_endpoint
    settings.OIDC_OP_JWKS_ENDPOINT = provider.jwks_uri
    organization = Organization.objects.create(
        name="Acme", slug="acme", idp_organization_id="org_acme"
    )
    organization.logout_policy.slo_mode = SLOMode.SHORT_LIVED_TOKENS
    organization.logout_policy.session_ttl = TTL
    organization.logout_policy.save()
    Organization.objects.create(name="Globex", slug="globex", idp_organization_id="org_globex")
    return str(live_server.url)


@pytest.fixture
def clock(monkeypatch):
    """Moves the relying party's clock (the live server runs in this process)."""

    class Clock:
        offset = 0.0

        def advance(self, seconds: float) -> None:
            self.offset += seconds

        def now(self) -> float:
            return time.time() + self.offset

    moved = Clock()
    monkeypatch.setattr("logout_sso.rp.internal.state.now", moved.now)
    return moved


def sign_in(browser: Browser, base_url: str, organization: str = "acme"):
    browser.get(f"{base_url}/sso/login/?organization={organization}&next=/me/")
    if browser.on_login_page():
        browser.login(LOGIN)
    elif browser.on_consent_page():
        browser.consent()
    return browser.response.json()


def location(browser: Browser) -> str:
    """Where the last redirect not followed (``stop_at``) pointed."""
    assert browser.last_location is not None
    return browser.last_location


def me(browser: Browser, base_url: str, **headers: str):
    return browser.get(f"{base_url}/me/", headers=headers).json()


def test_sign_in_through_the_provider(rp_one, provider):
    with Browser() as browser:
        assert sign_in(browser, rp_one)["authenticated"] is True
    [session] = LocalSession.objects.all()
    assert session.sub == LOGIN
    assert session.sid
    assert session.issuer == provider.issuer
    assert User.objects.filter(email=LOGIN).exists()


def test_authorize_request_names_the_organization(rp_one, provider):
    with Browser() as browser:
        browser.get(f"{rp_one}/sso/login/?organization=acme", stop_at=provider.issuer)
        query = parse_qs(urlsplit(location(browser)).query)
    assert query["organization"] == ["org_acme"]
    assert query["client_id"] == [RP_ONE]


def test_token_for_another_organization_is_rejected(rp_one, provider):
    with Browser() as browser:
        browser.get(f"{rp_one}/sso/login/?organization=acme", stop_at=provider.issuer)
        tampered = location(browser).replace("organization=org_acme", "organization=org_evil")
        browser.get(tampered)
        browser.login(LOGIN)

        assert browser.response.status_code == 403
        assert "another organization" in browser.text
        assert me(browser, rp_one)["authenticated"] is False


def test_silent_recheck_after_the_ttl_succeeds_without_a_login_form(rp_one, provider, clock):
    with Browser() as browser:
        sign_in(browser, rp_one)
        clock.advance(TTL + 1)
        browser.clear()

        page = me(browser, rp_one)

        assert page["authenticated"] is True
        authorize = [
            url for url in browser.visited if url.startswith(provider.authorization_endpoint)
        ]
        assert len(authorize) == 1
        assert "prompt=none" in authorize[0]
        assert browser.url == f"{rp_one}/me/"
        assert not browser.on_login_page()


def test_script_and_form_requests_after_the_ttl_get_401(rp_one, clock):
    with Browser() as browser:
        sign_in(browser, rp_one)
        clock.advance(TTL + 1)

        fetched = browser.get(f"{rp_one}/me/", headers={"X-Requested-With": "XMLHttpRequest"})
        posted = browser.post(f"{rp_one}/form/", data={"text": "keep me"})

    assert fetched.status_code == 401
    assert "prompt=none" in fetched.json()["refresh_url"]
    assert posted.status_code == 401
    assert "was not saved" in posted.text


def test_logout_of_one_application_ends_the_other_at_its_next_recheck(
    rp_one, rp_two, provider, clock
):
    with Browser() as browser:
        assert sign_in(browser, rp_one)["authenticated"] is True
        assert sign_in(browser, rp_two.url)["authenticated"] is True

        browser.get(f"{rp_two.url}/")
        [logout_form] = [form for form in browser.forms() if form.action.endswith("/sso/logout/")]
        browser.submit(logout_form)
        if "/session/end" in browser.url:
            browser.confirm_logout()
        assert browser.url == f"{rp_two.url}/"
        assert me(browser, rp_two.url)["authenticated"] is False

        clock.advance(TTL + 1)
        browser.get(f"{rp_one}/me/")

        assert browser.on_login_page()  # Sent to sign in again, at the provider.
        assert me(browser, rp_one, **{"X-Requested-With": "XMLHttpRequest"}) == {
            "authenticated": False,
            "user": "",
        }
    event = LogoutEvent.objects.get()
    assert event.initiator == "silent_recheck"
    assert event.sub == LOGIN
    assert not LocalSession.objects.exists()


@pytest.fixture
def idp_calls(monkeypatch, provider) -> list[str]:
    """The URLs the relying party (the live server's threads) requested from the provider."""
    calls: list[str] = []
    original = requests.Session.request

    def recording(self, method, url, *args, **kwargs):
        if threading.current_thread() is not threading.main_thread() and str(url).startswith(
            provider.issuer
        ):
            calls.append(f"{method.upper()} {urlsplit(str(url)).path}")
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", recording)
    return calls


def test_silent_recheck_costs_one_token_call_and_no_userinfo(rp_one, provider, clock, idp_calls):
    with Browser() as browser:
        sign_in(browser, rp_one)
        idp_calls.clear()
        clock.advance(TTL + 1)

        assert me(browser, rp_one)["authenticated"] is True

    assert idp_calls == [f"POST {urlsplit(provider.token_endpoint).path}"]


def test_requests_before_the_deadline_cost_the_provider_nothing(rp_one, clock, idp_calls):
    with Browser() as browser:
        sign_in(browser, rp_one)
        idp_calls.clear()
        for _ in range(5):
            clock.advance(TTL / 10)
            assert me(browser, rp_one)["authenticated"] is True

    assert idp_calls == []


def test_tabs_rechecking_at_once_each_come_back_to_their_own_page(rp_one, provider, clock):
    with Browser() as browser:
        sign_in(browser, rp_one)
        clock.advance(TTL + 1)
        # Two tabs navigate after the deadline; both are sent to the provider before either
        # comes back.
        browser.get(f"{rp_one}/me/?tab=1", stop_at=provider.issuer)
        first = location(browser)
        browser.get(f"{rp_one}/form/?tab=2", stop_at=provider.issuer)
        second = location(browser)

        browser.get(second)
        assert browser.url == f"{rp_one}/form/?tab=2"
        browser.get(first)
        assert browser.url == f"{rp_one}/me/?tab=1"
        assert browser.response.json()["authenticated"] is True


@pytest.mark.parametrize("federated", [True, False])
def test_logout_asks_the_provider_for_federated_logout_per_policy(
    rp_one, provider, settings, federated
):
    settings.LOGOUT_SSO = {
        "LOGOUT_URL_BUILDER": "logout_sso.rp.logout_urls.Auth0LogoutURLBuilder",
        "END_SESSION_ENDPOINT": provider.end_session_endpoint,
    }
    policy = Organization.objects.get(slug="acme").logout_policy
    policy.federated_logout = federated
    policy.save()
    with Browser() as browser:
        sign_in(browser, rp_one)
        browser.get(f"{rp_one}/sso/logout/")
        [form] = [form for form in browser.forms() if form.action.endswith("/sso/logout/")]
        browser.submit(form, stop_at=provider.issuer)
        query = parse_qs(urlsplit(location(browser)).query, keep_blank_values=True)
        browser.get(location(browser))
        browser.confirm_logout()

        assert ("federated" in query) is federated
        assert query["post_logout_redirect_uri"] == [f"{rp_one}/signed-out/"]
        assert browser.url == f"{rp_one}/signed-out/"
        assert me(browser, rp_one)["authenticated"] is False


def test_id_token_issued_to_another_client_is_rejected(rp_one, provider, rp_two_port, monkeypatch):
    rp_two_url = f"http://127.0.0.1:{rp_two_port}"
    with Browser() as browser:
        # A real ID token of the provider, issued to the other application...
        browser.get(
            provider.authorization_endpoint,
            params={
                "client_id": RP_TWO,
                "redirect_uri": f"{rp_two_url}/sso/callback/",
                "response_type": "code",
                "scope": "openid email",
                "state": "s",
                "nonce": "n",
                "organization": "org_acme",
            },
            stop_at=rp_two_url,
        )
        browser.login(LOGIN, stop_at=rp_two_url)
        code = parse_qs(urlsplit(location(browser)).query)["code"][0]
        other_clients_tokens = requests.post(
            provider.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": f"{rp_two_url}/sso/callback/",
            },
            auth=(RP_TWO, f"{RP_TWO}-secret"),
            timeout=10,
        ).json()
        # ...is what this application's token request gets back.
        monkeypatch.setattr(
            "logout_sso.rp.backend.OrganizationOIDCBackend.get_token",
            lambda self, payload: other_clients_tokens,
        )

        browser.get(f"{rp_one}/sso/login/?organization=acme&next=/me/")
        if browser.on_consent_page():
            browser.consent()

        assert browser.response.status_code == 403
        assert "Audience" in browser.text
        assert me(browser, rp_one)["authenticated"] is False


def test_back_channel_logout_from_the_provider_ends_the_session_at_once(
    rp_one, rp_two, provider, settings
):
    settings.OIDC_RP_CLIENT_ID = RP_RECEIVER
    settings.OIDC_RP_CLIENT_SECRET = f"{RP_RECEIVER}-secret"
    with Browser() as browser:
        assert sign_in(browser, rp_one)["authenticated"] is True
        assert sign_in(browser, rp_two.url)["authenticated"] is True

        browser.get(f"{rp_two.url}/")
        [logout_form] = [form for form in browser.forms() if form.action.endswith("/sso/logout/")]
        browser.submit(logout_form)
        if "/session/end" in browser.url:
            browser.confirm_logout()

        # No clock moved: the provider's back-channel call already ended it.
        assert me(browser, rp_one)["authenticated"] is False
    provider.wait_for_output(rf"BACKCHANNEL OK {RP_RECEIVER}")
    event = LogoutEvent.objects.get(initiator="idp_backchannel")
    assert (event.sub, event.sessions_ended) == (LOGIN, 1)
    assert event.organization == Organization.objects.get(slug="acme")
    assert not LocalSession.objects.exists()
