"""validate_secure_url and validate_secure_url_lines: what a back-channel logout URI, a redirect
allowlist entry or a trusted issuer may look like."""

import pytest
from django.core.exceptions import ValidationError

from logout_sso.internal.validators import validate_secure_url, validate_secure_url_lines


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com",
        "https://app.example.com/backchannel-logout",
        "https://app.example.com:8443/bcl",
        "https://app.example.com/logged-out?tenant=acme&lang=en",
        "HTTPS://APP.EXAMPLE.COM/bcl",
        "http://localhost/bcl",
        "http://localhost:8000/bcl",
        "http://127.0.0.1:8001/bcl",
        "http://127.5.5.5/bcl",
        "http://[::1]:8000/bcl",
        "http://foo.localhost:8000/bcl",
        "https://bücher.example/abmelden",
    ],
)
def test_accepts_https_and_loopback_http(url):
    validate_secure_url(url)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        # Not absolute http(s): nowhere to send a browser or a logout token.
        ("/logout", "not_absolute"),
        ("logged-out", "not_absolute"),
        ("//evil.com", "not_absolute"),
        ("//evil.com/path", "not_absolute"),
        ("https:evil.com", "not_absolute"),
        ("https:/evil.com", "not_absolute"),
        ("https://", "not_absolute"),
        ("ftp://files.example.com/x", "not_absolute"),
        ("javascript:alert(1)", "not_absolute"),
        ("data:text/html,hi", "not_absolute"),
        # Plain http to anything but this machine.
        ("http://example.com", "insecure"),
        ("http://app.example.com/bcl", "insecure"),
        ("http://localhost.evil.com/", "insecure"),
        ("http://127.0.0.1.evil.com/", "insecure"),
        ("http://localhost@evil.com/", "insecure"),
        ("http://10.0.0.1/", "insecure"),
        # User-info hides the real host from a reader.
        ("https://user:pw@host.example.com", "userinfo"),
        ("https://user@host.example.com", "userinfo"),
        ("https://app.example.com@evil.com/", "userinfo"),
        ("http://user:pw@localhost/", "userinfo"),
        # Fragments are not allowed (OIDC Back-Channel Logout 1.0, section 2.2).
        ("https://host.example.com/#frag", "fragment"),
        ("https://host.example.com/path#", "fragment"),
        # Malformed: spaces, control characters, backslashes, bad ports.
        ("", "invalid"),
        (" https://app.example.com", "invalid"),
        ("https://app.example.com ", "invalid"),
        ("https://app.example.com\n", "invalid"),
        ("https://app.example.com/a b", "invalid"),
        ("https://app.exa\tmple.com/", "invalid"),
        ("https://app.example.com/\x00", "invalid"),
        ("https://app.example.com/\x1b", "invalid"),
        ("https://app.example.com/\x7f", "invalid"),
        ("https://exa\x7fmple.com/", "invalid"),
        ("https://app.example.com/\x85", "invalid"),
        ("https://app.example.com/\xa0x", "invalid"),
        ("https://app.example.com/\u2028x", "invalid"),
        ("https://app.example.com/\u200bx", "invalid"),
        ("https://evil.com/\u202emoc.elpmaxe.ppa", "invalid"),
        ("\\\\evil.com", "invalid"),
        ("https://app.example.com\\@evil.com", "invalid"),
        ("https://app.example.com:99999/", "invalid"),
        ("https://app.example.com:65536/", "invalid"),
        ("https://app.example.com:port/", "invalid"),
        ("https://[::1/", "invalid"),
    ],
)
def test_rejects_with_code(url, code):
    with pytest.raises(ValidationError) as exc_info:
        validate_secure_url(url)
    assert exc_info.value.code == code


def test_rejects_non_string():
    with pytest.raises(ValidationError) as exc_info:
        validate_secure_url(None)  # type: ignore[arg-type]
    assert exc_info.value.code == "invalid"


def test_message_names_the_bad_url():
    with pytest.raises(ValidationError) as exc_info:
        validate_secure_url("http://app.example.com/bcl")
    assert exc_info.value.messages == [
        "http://app.example.com/bcl must use https; plain http is only allowed for loopback hosts."
    ]


def test_userinfo_message():
    with pytest.raises(ValidationError) as exc_info:
        validate_secure_url("https://user:pw@host.example.com")
    assert exc_info.value.messages == [
        "https://user:pw@host.example.com must not contain a user name or password."
    ]


def test_fragment_message():
    with pytest.raises(ValidationError) as exc_info:
        validate_secure_url("https://host.example.com/#frag")
    assert exc_info.value.messages == [
        "https://host.example.com/#frag must not contain a fragment (#...)."
    ]


def test_relative_url_message():
    with pytest.raises(ValidationError) as exc_info:
        validate_secure_url("/logout")
    assert exc_info.value.messages == [
        "/logout is not an absolute http(s) URL, such as https://app.example.com/path."
    ]


def test_lines_accept_blank_text():
    validate_secure_url_lines("")
    validate_secure_url_lines("\n   \n")


def test_lines_accept_good_lines_with_surrounding_blanks():
    validate_secure_url_lines(
        "https://app.example.com/logged-out\n\n  http://localhost:8000/bye  \r\n"
    )


def test_lines_report_every_bad_line():
    text = "\n".join(
        [
            "https://app.example.com/ok",
            "http://example.com/bye",
            "/relative",
            "https://user:pw@host.example.com/",
            "https://host.example.com/#frag",
            "https://also-ok.example.com/",
        ]
    )
    with pytest.raises(ValidationError) as exc_info:
        validate_secure_url_lines(text)
    errors = exc_info.value.error_list
    assert [error.code for error in errors] == ["insecure", "not_absolute", "userinfo", "fragment"]
    assert exc_info.value.messages == [
        "http://example.com/bye must use https; plain http is only allowed for loopback hosts.",
        "/relative is not an absolute http(s) URL, such as https://app.example.com/path.",
        "https://user:pw@host.example.com/ must not contain a user name or password.",
        "https://host.example.com/#frag must not contain a fragment (#...).",
    ]


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_url_is_asked_for(value):
    with pytest.raises(ValidationError) as caught:
        validate_secure_url(value)
    assert caught.value.messages == ["Enter a URL."]
