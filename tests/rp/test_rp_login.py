"""Organization-aware login: LoginView's authorization request, CallbackView's failure paths and
the checks OrganizationOIDCBackend makes on an ID token. No OpenID provider here: the interop
tests run the whole flow against a real one."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.test import Client, RequestFactory

from logout_sso.models import EmailDomain, LocalSession, LogoutEvent, Organization
from logout_sso.rp.backend import PENDING_ATTEMPT, LoginRejected, OrganizationOIDCBackend
from logout_sso.rp.internal.state import LoginAttempt
from logout_sso.rp.resolvers import OrganizationResolver
from tests.signing_in import is_signed_in, sign_in_through_idp

ISSUER = "https://idp.example.com/"
CLIENT_ID = "crm-client"
AUTHORIZE = "https://idp.example.com/authorize"


@pytest.fixture(autouse=True)
def oidc_settings(settings):
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = AUTHORIZE
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = "not-a-secret"
    settings.OIDC_OP_TOKEN_ENDPOINT = "https://idp.example.com/oauth/token"
    settings.OIDC_OP_USER_ENDPOINT = "https://idp.example.com/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = "https://idp.example.com/.well-known/jwks.json"
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_OP_ISSUER = ISSUER


def start_login(client: Client, **params: str) -> tuple[str, dict[str, list[str]]]:
    """GET the login view; return the redirect's endpoint and query."""
    response = client.get("/sso/login/", params)
    assert response.status_code == 302, response.content.decode()
    location = urlsplit(response["Location"])
    return f"{location.scheme}://{location.netloc}{location.path}", parse_qs(location.query)


def attempt_of(client: Client, state: str) -> LoginAttempt | None:
    return LoginAttempt.from_state_entry(client.session["oidc_states"][state])


# --- LoginView: which organization ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params", [{"organization": "nope"}, {}], ids=["unknown-organization", "no-organization"]
)
def test_login_for_no_known_organization_is_a_400_page(client, acme, params):
    response = client.get("/sso/login/", params)

    assert response.status_code == 400
    assert "This link names none we know." in response.content.decode()


@pytest.mark.django_db
def test_an_unknown_organization_is_not_replaced_by_the_email_domain(client, acme):
    EmailDomain.objects.create(organization=acme, domain="acme.example")

    response = client.get("/sso/login/", {"organization": "nope", "login_hint": "b@acme.example"})

    assert response.status_code == 400


@pytest.mark.django_db
def test_an_identifier_two_organizations_share_names_neither(
    client, acme, make_organization, caplog
):
    """Written around the validation (the reproduction: Acme's slug set to Globex's IdP id),
    an identifier held by two organizations does not send anyone to the first one found."""
    make_organization("globex", idp_organization_id="org_globex")
    Organization.objects.filter(pk=acme.pk).update(slug="org_globex")

    response = client.get("/sso/login/", {"organization": "org_globex"})

    assert response.status_code == 400
    assert "share the identifier 'org_globex'" in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"organization": "\x00"},
        {"organization": "acme\x00"},
        {"organization": "acme\u202e"},
        {"login_hint": "a@acme.example\x00"},
        {"email": "a@acme.example\n"},
    ],
    ids=["nul", "acme-nul", "bidi-override", "login-hint-nul", "email-newline"],
)
def test_login_with_unprintable_parameters_is_a_400_page(client, acme, params):
    EmailDomain.objects.create(organization=acme, domain="acme.example")

    response = client.get("/sso/login/", params)

    assert response.status_code == 400
    assert "This link names none we know." in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("identifier", ["acme", "org_acme"], ids=["slug", "idp-id"])
def test_login_redirects_to_the_authorize_endpoint_for_the_organization(client, acme, identifier):
    endpoint, query = start_login(client, organization=identifier)

    assert endpoint == AUTHORIZE
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == ["http://testserver/sso/callback/"]
    assert query["response_type"] == ["code"]
    assert query["state"][0]
    assert query["nonce"][0]
    assert query["organization"] == ["org_acme"]
    assert "connection" not in query
    assert "prompt" not in query


@pytest.mark.django_db
def test_an_organization_without_idp_id_sends_no_organization_parameter(client, make_organization):
    make_organization("globex")

    _endpoint, query = start_login(client, organization="globex")

    assert "organization" not in query


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("auto_forward", "expected"),
    [(True, ["acme-saml"]), (False, None)],
    ids=["auto-forward", "no-auto-forward"],
)
def test_the_connection_is_sent_only_when_the_organization_auto_forwards(
    client, make_organization, auto_forward, expected
):
    make_organization("acme", connection="acme-saml", auto_forward=auto_forward)

    _endpoint, query = start_login(client, organization="acme")

    assert query.get("connection") == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("prompt", "expected", "silent"),
    [(None, None, False), ("none", ["none"], True), ("login", None, False)],
    ids=["no-prompt", "prompt-none", "other-prompt"],
)
def test_prompt_none_is_sent_only_for_a_silent_recheck(client, acme, prompt, expected, silent):
    params = {"organization": "acme"} | ({"prompt": prompt} if prompt else {})

    _endpoint, query = start_login(client, **params)

    assert query.get("prompt") == expected
    attempt = attempt_of(client, query["state"][0])
    assert attempt is not None
    assert attempt.silent is silent


@pytest.mark.django_db
def test_the_state_entry_carries_the_login_attempt(client, acme):
    _endpoint, query = start_login(client, organization="acme", next="/page/?a=1")

    assert attempt_of(client, query["state"][0]) == LoginAttempt(
        organization_id=acme.pk, next_url="/page/?a=1", silent=False
    )
    assert "oidc_login_next" not in client.session


@pytest.mark.django_db
@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.com",
        "https://evil.com/",
        "https:evil.com",
        "\\\\evil.com",
        "/\\evil.com",
        "http://testserver@evil.com/",
        "javascript:alert(1)",
    ],
)
def test_an_unsafe_next_becomes_the_login_redirect_url(client, acme, next_url):
    _endpoint, query = start_login(client, organization="acme", next=next_url)

    attempt = attempt_of(client, query["state"][0])
    assert attempt is not None
    assert attempt.next_url == "/me/"


@pytest.mark.django_db
def test_no_next_means_the_login_redirect_url(client, acme):
    _endpoint, query = start_login(client, organization="acme")

    attempt = attempt_of(client, query["state"][0])
    assert attempt is not None
    assert attempt.next_url == "/me/"


@pytest.mark.django_db
def test_two_logins_in_two_tabs_keep_their_own_state_and_next(client, acme):
    _endpoint, first = start_login(client, organization="acme", next="/reports/")
    _endpoint, second = start_login(client, organization="acme", next="/invoices/", prompt="none")

    first_attempt = attempt_of(client, first["state"][0])
    second_attempt = attempt_of(client, second["state"][0])
    assert first_attempt is not None
    assert second_attempt is not None
    assert (first_attempt.next_url, first_attempt.silent) == ("/reports/", False)
    assert (second_attempt.next_url, second_attempt.silent) == ("/invoices/", True)
    assert first["nonce"] != second["nonce"]


@pytest.mark.django_db
def test_the_organization_is_found_by_the_login_hints_email_domain(client, acme):
    EmailDomain.objects.create(organization=acme, domain="acme.example")

    _endpoint, query = start_login(client, login_hint="bob@ACME.example")

    assert query["organization"] == ["org_acme"]
    attempt = attempt_of(client, query["state"][0])
    assert attempt is not None
    assert attempt.organization_id == acme.pk


@pytest.mark.django_db
def test_the_organization_is_found_by_the_host_name(client, acme, settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "acme.testserver"]

    response = client.get("/sso/login/", HTTP_HOST="acme.testserver")

    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["organization"] == ["org_acme"]
    assert query["redirect_uri"] == ["http://acme.testserver/sso/callback/"]


class AlwaysGlobexResolver(OrganizationResolver):
    """A project's own resolver: every login is for globex."""

    def resolve(self, request: HttpRequest) -> Organization | None:
        return Organization.objects.filter(slug="globex").first()


@pytest.mark.django_db
def test_a_custom_organization_resolver_is_used(client, acme, make_organization, settings):
    globex = make_organization("globex", idp_organization_id="org_globex")
    settings.LOGOUT_SSO = {"ORGANIZATION_RESOLVER": f"{__name__}.AlwaysGlobexResolver"}

    _endpoint, query = start_login(client, organization="acme")

    assert query["organization"] == ["org_globex"]
    attempt = attempt_of(client, query["state"][0])
    assert attempt is not None
    assert attempt.organization_id == globex.pk


# --- CallbackView: the IdP answered with an error ----------------------------------------------


def sign_in(client: Client, organization: Organization) -> str:
    """Sign ``client`` in as if through the IdP; return its session key."""
    return sign_in_through_idp(client, organization, issuer=ISSUER)


@pytest.mark.django_db
def test_a_failed_silent_recheck_ends_the_session_and_asks_to_sign_in_again(client, acme):
    session_key = sign_in(client, acme)
    _endpoint, query = start_login(client, organization="acme", next="/form/?x=1", prompt="none")

    response = client.get("/sso/callback/", {"error": "login_required", "state": query["state"][0]})

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == "/sso/login/"
    assert parse_qs(location.query) == {"organization": ["acme"], "next": ["/form/?x=1"]}
    assert not is_signed_in(client)
    assert not LocalSession.objects.filter(session_key=session_key).exists()
    event = LogoutEvent.objects.get()
    assert (event.initiator, event.organization, event.sub, event.sid) == (
        "silent_recheck",
        acme,
        "u1",
        "s1",
    )


@pytest.mark.django_db
def test_following_a_failed_recheck_starts_an_interactive_login(client, acme):
    sign_in(client, acme)
    _endpoint, query = start_login(client, organization="acme", next="/form/", prompt="none")
    response = client.get(
        "/sso/callback/", {"error": "interaction_required", "state": query["state"][0]}
    )

    login = client.get(response["Location"])

    assert login.status_code == 302
    query = parse_qs(urlsplit(login["Location"]).query)
    assert "prompt" not in query
    attempt = attempt_of(client, query["state"][0])
    assert attempt is not None
    assert (attempt.next_url, attempt.silent) == ("/form/", False)


@pytest.mark.django_db
def test_an_idp_refusal_shows_a_fixed_message_and_logs_the_providers_words_escaped(
    client, acme, caplog
):
    _endpoint, query = start_login(client, organization="acme")
    forged = "Call +1 555 0100 to restore access\n2026-01-01 00:00:00 CRITICAL forged"

    with caplog.at_level("INFO", logger="logout_sso.rp.views"):
        response = client.get(
            "/sso/callback/",
            {"error": "access_denied", "error_description": forged, "state": query["state"][0]},
        )

    assert response.status_code == 403
    page = response.content.decode()
    assert "Sign-in failed" in page
    assert "The sign-in could not be completed. Please try again." in page
    assert "555" not in page
    assert "Call +1 555 0100 to restore access\\n2026-01-01" in caplog.text
    assert "\n2026-01-01 00:00:00 CRITICAL" not in caplog.text
    assert not LogoutEvent.objects.exists()


@pytest.mark.django_db
def test_an_idp_refusal_of_an_interactive_login_is_not_recorded_as_a_logout(client, acme):
    sign_in(client, acme)
    _endpoint, query = start_login(client, organization="acme")

    response = client.get("/sso/callback/", {"error": "access_denied", "state": query["state"][0]})

    assert response.status_code == 403
    assert "The sign-in could not be completed." in response.content.decode()
    assert not LogoutEvent.objects.exists()
    assert not LocalSession.objects.exists()  # Signed out by mozilla-django-oidc: unindexed.


@pytest.mark.django_db
def test_a_callback_with_an_unknown_state_fails_with_a_page(client, acme):
    response = client.get("/sso/callback/", {"error": "login_required", "state": "forged"})

    assert response.status_code == 400
    assert "The sign-in could not be completed." in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("state", [None, "forged"], ids=["no-state", "unknown-state"])
def test_an_error_callback_of_no_login_under_way_signs_nobody_out(client, acme, state):
    """A link anyone can put in a page (a cross-site GET) must not end the session it opens in,
    nor show the attacker's words."""
    session_key = sign_in(client, acme)
    query = {"error": "access_denied", "error_description": "Your account is locked: call us"}
    if state:
        query["state"] = state

    response = client.get("/sso/callback/", query)

    assert response.status_code == 400
    assert "call us" not in response.content.decode()
    assert is_signed_in(client)
    assert LocalSession.objects.filter(session_key=session_key).exists()
    assert not LogoutEvent.objects.exists()


@pytest.mark.django_db
def test_a_code_for_a_state_not_under_way_is_the_sign_in_failed_page(client, acme):
    start_login(client, organization="acme")  # A sign-in under way, but for another state.

    response = client.get("/sso/callback/", {"code": "stolen", "state": "forged"})

    assert response.status_code == 400
    assert "The sign-in could not be completed." in response.content.decode()


@pytest.mark.django_db
def test_an_error_callback_does_not_sign_out_an_admin_password_session(client, acme):
    admin = User.objects.create_superuser("root", password="pw")
    client.force_login(admin)

    response = client.get("/sso/callback/", {"error": "access_denied"})

    assert response.status_code == 400
    assert client.get("/admin/").status_code == 200


# --- OrganizationOIDCBackend: the ID token's checks ----------------------------------------------


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def public_jwk(private_key) -> jwt.PyJWK:
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return jwt.PyJWK({**jwk, "kid": "k1", "alg": "RS256", "use": "sig"})


@pytest.fixture
def backend(public_jwk, monkeypatch) -> OrganizationOIDCBackend:
    monkeypatch.setattr("logout_sso.rp.backend.signing_key", lambda *args: public_jwk)
    return OrganizationOIDCBackend()


def id_token_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": "u1",
        "sid": "s1",
        "email": "alice@acme.example",
        "iat": now,
        "exp": now + 300,
        "nonce": "n1",
        "org_id": "org_acme",
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def sign(private_key, **changes: Any) -> str:
    return jwt.encode(
        id_token_claims(**changes), private_key, algorithm="RS256", headers={"kid": "k1"}
    )


def test_a_good_id_token_is_accepted(backend, private_key, public_jwk):
    claims = backend._verify_jws(sign(private_key), public_jwk)

    assert (claims["sub"], claims["sid"]) == ("u1", "s1")


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "another-client"},
        {"aud": None},
        {"iss": "https://evil.example.com/"},
        {"iss": "https://idp.example.com"},
        {"iss": None},
        {"exp": int(time.time()) - 3600},
        {"exp": None},
        {"iat": None},
        {"sub": None},
    ],
    ids=[
        "wrong-aud",
        "no-aud",
        "wrong-iss",
        "iss-without-trailing-slash",
        "no-iss",
        "expired",
        "no-exp",
        "no-iat",
        "no-sub",
    ],
)
def test_a_bad_id_token_is_rejected(backend, private_key, public_jwk, changes):
    with pytest.raises(LoginRejected, match="The ID token was rejected"):
        backend._verify_jws(sign(private_key, **changes), public_jwk)


def test_an_hs256_token_is_rejected(backend, public_jwk):
    token = jwt.encode(id_token_claims(), "a-shared-secret-of-32-bytes-long!", algorithm="HS256")

    with pytest.raises(LoginRejected, match="signed with 'HS256', not 'RS256'"):
        backend._verify_jws(token, public_jwk)


def test_an_unsigned_token_is_rejected(backend, public_jwk):
    token = jwt.encode(id_token_claims(), "", algorithm="none")

    with pytest.raises(LoginRejected, match="signed with 'none'"):
        backend._verify_jws(token, public_jwk)


def test_a_token_signed_by_another_key_is_rejected(backend, public_jwk):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    with pytest.raises(LoginRejected, match="Signature verification failed"):
        backend._verify_jws(sign(other), public_jwk)


def login_request(organization: Organization) -> HttpRequest:
    request = RequestFactory().get("/sso/callback/")
    setattr(
        request,
        PENDING_ATTEMPT,
        LoginAttempt(organization_id=organization.pk, next_url="/me/", silent=False),
    )
    return request


@pytest.mark.django_db
def test_verify_token_accepts_the_organization_the_login_was_for(backend, private_key, acme):
    backend.request = login_request(acme)

    claims = backend.verify_token(sign(private_key), nonce="n1")

    assert claims["org_id"] == "org_acme"


@pytest.mark.django_db
def test_verify_token_rejects_another_organization(backend, private_key, acme):
    backend.request = login_request(acme)

    with pytest.raises(LoginRejected, match="another organization"):
        backend.verify_token(sign(private_key, org_id="org_globex"), nonce="n1")


@pytest.mark.django_db
def test_verify_token_rejects_a_login_not_started_here(backend, private_key):
    backend.request = RequestFactory().get("/sso/callback/")

    with pytest.raises(LoginRejected, match="not started here"):
        backend.verify_token(sign(private_key), nonce="n1")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("idp_organization_id", "claims", "accepted"),
    [
        ("org_acme", {"org_id": "org_acme"}, True),
        ("org_acme", {"org_id": "org_globex"}, False),
        ("org_acme", {}, False),
        ("org_acme", {"org_id": ""}, False),
        ("", {"org_id": "org_acme"}, False),
        ("", {}, True),
        ("", {"org_id": ""}, True),
    ],
    ids=[
        "matching",
        "another-organization",
        "claim-missing",
        "claim-empty",
        "claim-nobody-asked-for",
        "none-expected-none-sent",
        "none-expected-empty-sent",
    ],
)
def test_check_organization(backend, make_organization, idp_organization_id, claims, accepted):
    organization = make_organization("acme", idp_organization_id=idp_organization_id)

    if accepted:
        backend.check_organization({"sub": "u1", **claims}, organization.pk)
    else:
        with pytest.raises(LoginRejected, match="another organization"):
            backend.check_organization({"sub": "u1", **claims}, organization.pk)


@pytest.mark.django_db
def test_check_organization_rejects_an_organization_that_no_longer_exists(backend, acme):
    organization_id = acme.pk
    acme.delete()

    with pytest.raises(LoginRejected):
        backend.check_organization({"sub": "u1", "org_id": "org_acme"}, organization_id)


@pytest.mark.django_db
def test_the_organization_claims_name_is_a_setting(backend, acme, settings):
    settings.LOGOUT_SSO = {"ORGANIZATION_CLAIM": "https://acme.example/tenant"}

    backend.check_organization({"https://acme.example/tenant": "org_acme"}, acme.pk)
    with pytest.raises(LoginRejected):
        backend.check_organization({"org_id": "org_acme"}, acme.pk)


def test_userinfo_is_not_fetched_when_the_id_token_has_the_claims(backend, monkeypatch):
    def no_http(*args: object, **kwargs: object) -> None:
        raise AssertionError("the userinfo endpoint was called")

    monkeypatch.setattr("requests.get", no_http)
    claims = id_token_claims()

    assert backend.get_userinfo("access-token", "x.y.z", claims) == claims


class UserinfoResponse:
    """What ``requests.get`` answers for the userinfo endpoint."""

    headers = {"content-type": "application/json"}

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def raise_for_status(self) -> None:
        return None

    def json(self) -> dict[str, Any]:
        return self.body


def test_userinfo_is_fetched_when_the_id_token_lacks_the_email(backend, monkeypatch):
    calls: list[str] = []

    def userinfo(url: str, **kwargs: object) -> UserinfoResponse:
        calls.append(url)
        return UserinfoResponse({"sub": "u1", "email": "alice@acme.example"})

    monkeypatch.setattr("requests.get", userinfo)

    claims = backend.get_userinfo("access-token", "x.y.z", id_token_claims(email=None))

    assert calls == ["https://idp.example.com/userinfo"]
    assert (claims["email"], claims["org_id"]) == ("alice@acme.example", "org_acme")


def test_userinfo_about_another_user_is_rejected(backend, monkeypatch):
    monkeypatch.setattr(
        "requests.get",
        lambda url, **kwargs: UserinfoResponse({"sub": "u2", "email": "mallory@evil.example"}),
    )

    with pytest.raises(LoginRejected, match="about another user"):
        backend.get_userinfo("access-token", "x.y.z", id_token_claims(email=None))
