"""check_relying_party: what ``manage.py check`` tells a project using logout_sso's OIDC backend."""

from __future__ import annotations

import pytest
from django.core.checks import ERROR, WARNING
from django.core.checks.registry import registry

from logout_sso.checks import Codes, check_relying_party
from logout_sso.rp.backend import OrganizationOIDCBackend

RP_BACKEND = "logout_sso.rp.backend.OrganizationOIDCBackend"
RP_MIDDLEWARE = "logout_sso.rp.middleware.ShortLivedSessionMiddleware"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


class ProjectBackend(OrganizationOIDCBackend):
    """A project's own subclass of logout_sso's backend."""


def run_check():
    return check_relying_party(app_configs=None, databases=None)


def ids(messages):
    return [message.id for message in messages]


@pytest.fixture
def rp_backend(settings):
    settings.AUTHENTICATION_BACKENDS = [MODEL_BACKEND, RP_BACKEND]
    settings.OIDC_OP_ISSUER = "https://idp.example.com/"


def test_a_complete_relying_party_reports_nothing(rp_backend):
    assert run_check() == []


@pytest.mark.parametrize("issuer", [None, ""], ids=["unset", "empty"])
def test_no_issuer_is_e008(rp_backend, settings, issuer):
    if issuer is None:
        del settings.OIDC_OP_ISSUER
    else:
        settings.OIDC_OP_ISSUER = issuer

    messages = run_check()

    assert ids(messages) == [Codes.ISSUER_MISSING] == ["logout_sso.E008"]
    assert messages[0].level == ERROR
    assert "OIDC_OP_ISSUER is not set" in messages[0].msg
    assert "discovery document" in messages[0].hint


def test_no_middleware_is_w003(rp_backend, settings):
    settings.MIDDLEWARE = [entry for entry in settings.MIDDLEWARE if entry != RP_MIDDLEWARE]

    messages = run_check()

    assert ids(messages) == [Codes.MIDDLEWARE_MISSING] == ["logout_sso.W003"]
    assert messages[0].level == WARNING
    assert "sessions are never re-checked" in messages[0].msg
    assert RP_MIDDLEWARE in messages[0].hint


def test_both_problems_are_reported_together(rp_backend, settings):
    del settings.OIDC_OP_ISSUER
    settings.MIDDLEWARE = [entry for entry in settings.MIDDLEWARE if entry != RP_MIDDLEWARE]

    assert ids(run_check()) == [Codes.ISSUER_MISSING, Codes.MIDDLEWARE_MISSING]


def test_a_subclass_of_the_backend_is_checked_too(settings):
    settings.AUTHENTICATION_BACKENDS = [f"{__name__}.ProjectBackend"]
    if hasattr(settings, "OIDC_OP_ISSUER"):
        del settings.OIDC_OP_ISSUER

    assert ids(run_check()) == [Codes.ISSUER_MISSING]


@pytest.mark.parametrize(
    "backends",
    [
        [MODEL_BACKEND],
        [MODEL_BACKEND, "mozilla_django_oidc.auth.OIDCAuthenticationBackend"],
        [MODEL_BACKEND, "project.does.not.Exist"],
    ],
    ids=["model-backend", "plain-mozilla-backend", "unimportable-backend"],
)
def test_nothing_is_reported_when_the_backend_is_not_used(settings, backends):
    settings.AUTHENTICATION_BACKENDS = backends
    settings.MIDDLEWARE = [entry for entry in settings.MIDDLEWARE if entry != RP_MIDDLEWARE]
    if hasattr(settings, "OIDC_OP_ISSUER"):
        del settings.OIDC_OP_ISSUER

    assert run_check() == []


def test_the_check_runs_with_manage_py_check():
    assert check_relying_party in registry.get_checks()
