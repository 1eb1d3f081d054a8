"""Validators for the URLs that admins and settings give logout_sso.

Rules shared by back-channel logout URIs, post-logout redirect allowlists and trusted issuers:
absolute, ``https`` (plain ``http`` only for a loopback host, for development), no user-info
(``https://user:pass@host`` hides the real host from a reader) and no fragment (OpenID Connect
Back-Channel Logout 1.0, section 2.2).
"""

from __future__ import annotations

import ipaddress
import unicodedata
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

LOOPBACK_HOSTNAMES = frozenset({"localhost", "localhost.localdomain"})
#: Unicode categories no URL may contain: controls (C0, DEL, C1), invisible format characters
#: (zero-width, bidirectional overrides) and every kind of space.
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def is_plain_text(value: str) -> bool:
    """Whether ``value`` is printable text: no control, formatting or separator character but
    the space. So no NUL (PostgreSQL refuses it), no lone surrogate (not UTF-8), nothing that
    could start a forged log line or hide what a string says."""
    return value.isprintable()


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a hostname or an IP literal, without brackets) names this machine."""
    host = host.lower().rstrip(".")
    if host in LOOPBACK_HOSTNAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_secure_url(value: str) -> None:
    """Reject anything but an absolute https URL (http for loopback hosts) without user-info or
    fragment."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(_("Enter a URL."), code="invalid")
    if value != value.strip():
        raise ValidationError(_("Enter a URL without surrounding spaces."), code="invalid")
    if any(char == "\\" or unicodedata.category(char) in FORBIDDEN_CATEGORIES for char in value):
        raise ValidationError(
            _("%(url)s contains spaces, control characters or backslashes."),
            code="invalid",
            params={"url": value},
        )
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError as exc:
        raise ValidationError(
            _("%(url)s is not a valid URL."), code="invalid", params={"url": value}
        ) from exc
    scheme = parts.scheme.lower()
    if scheme not in {"https", "http"} or not host:
        raise ValidationError(
            _("%(url)s is not an absolute http(s) URL, such as https://app.example.com/path."),
            code="not_absolute",
            params={"url": value},
        )
    if scheme == "http" and not is_loopback_host(host):
        raise ValidationError(
            _("%(url)s must use https; plain http is only allowed for loopback hosts."),
            code="insecure",
            params={"url": value},
        )
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            _("%(url)s must not contain a user name or password."),
            code="userinfo",
            params={"url": value},
        )
    if "#" in value:
        raise ValidationError(
            _("%(url)s must not contain a fragment (#...)."),
            code="fragment",
            params={"url": value},
        )


def split_lines(text: str) -> list[str]:
    """The non-blank lines of ``text``, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def validate_secure_url_lines(text: str) -> None:
    """Validate a one-URL-per-line text field, reporting every bad line at once."""
    errors: list[ValidationError] = []
    for url in split_lines(text):
        try:
            validate_secure_url(url)
        except ValidationError as exc:
            errors.append(exc)
    if errors:
        raise ValidationError(errors)
