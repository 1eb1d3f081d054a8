"""``manage.py logout_sso_signals``: a source's stream managed by script, against the test
transmitter; its output, ``--json`` and exit codes."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from logout_sso.models import Organization, SignalSource
from logout_sso.models.signal_sources import DeliveryMethod, SignalKind
from tests.loopback import json_reply
from tests.ssf_transmitter import PUSH, TOKEN, Transmitter

PUBLIC_URL = "https://hub.example.com"


@pytest.fixture(autouse=True)
def hub_settings(settings):
    settings.LOGOUT_SSO = {"DELIVERY_ALLOW_PRIVATE_ADDRESSES": True, "PUBLIC_URL": PUBLIC_URL}


@pytest.fixture
def source(acme: Organization, transmitter: Transmitter) -> SignalSource:
    source = SignalSource(
        organization=acme, name="Okta", kind=SignalKind.SHARED_SIGNALS, issuer=transmitter.issuer
    )
    source.set_management_token(TOKEN)
    source.save()
    return source


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("logout_sso_signals", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def failing(*args: str) -> tuple[int, str, str]:
    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("logout_sso_signals", *args, stdout=out, stderr=io.StringIO())
    return failed.value.returncode, str(failed.value), out.getvalue()


ACME_OKTA = ("--organization", "acme", "--source", "Okta")


@pytest.mark.django_db
def test_create_check_verify_delete(source, transmitter):
    out, err = run("stream", *ACME_OKTA)
    source.refresh_from_db()
    assert out == f"Stream {source.stream_id} created, enabled.\n"
    assert "Warning: The transmitter does not deliver" in err
    (create,) = transmitter.requests_to("/ssf/stream", "POST")
    assert json.loads(create.body)["delivery"] == {
        "method": PUSH,
        "endpoint_url": f"{PUBLIC_URL}/sso/organizations/acme/ssf/events",
    }
    assert create.headers["Authorization"] == f"Bearer {TOKEN}"

    assert run("status", *ACME_OKTA)[0] == f"Stream {source.stream_id}: enabled.\n"
    assert run("verify", *ACME_OKTA)[0].startswith("Verification event requested on stream ")
    assert run("delete", *ACME_OKTA)[0] == f"Stream {source.stream_id} deleted.\n"
    assert transmitter.streams == {}


@pytest.mark.django_db
def test_json(source, transmitter):
    out, _err = run("configuration", *ACME_OKTA, "--json")

    payload: dict[str, Any] = json.loads(out)
    assert payload["ok"] is True
    assert (payload["organization"], payload["source"], payload["operation"]) == (
        "acme",
        "Okta",
        "configuration",
    )
    assert payload["details"]["configuration_endpoint"] == f"{transmitter.url}/ssf/stream"
    assert TOKEN not in out


@pytest.mark.django_db
def test_a_refusal_exits_1_with_the_reason_and_its_json(source, transmitter):
    transmitter.scripted["/ssf/stream"] = json_reply(
        {"error": "invalid_request", "error_description": "Unknown event."}, 400
    )

    code, reason, out = failing("stream", *ACME_OKTA, "--json")

    assert code == 1
    assert reason == (
        f"Creating the stream failed: {transmitter.url}/ssf/stream answered 400 Bad Request: "
        "invalid_request: Unknown event."
    )
    assert json.loads(out)["ok"] is False
    assert json.loads(out)["message"] == reason


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--organization", "nope", "--source", "Okta"), "No organization with slug 'nope'."),
        (
            ("--organization", "acme", "--source", "Nope"),
            "Organization 'acme' has no signal source named 'Nope'.",
        ),
    ],
)
def test_unknown_organization_or_source_exits_2(source, args, reason):
    assert failing("status", *args)[:2] == (2, reason)


@pytest.mark.django_db
def test_a_push_stream_without_public_url_exits_2(source, settings):
    settings.LOGOUT_SSO = {"DELIVERY_ALLOW_PRIVATE_ADDRESSES": True}

    code, reason, _out = failing("stream", *ACME_OKTA)

    assert (code, reason) == (
        2,
        "This project's public address is unknown: set LOGOUT_SSO['PUBLIC_URL'] "
        "(https://hub.example.com).",
    )


@pytest.mark.django_db
def test_a_poll_stream_needs_no_public_url(source, settings, transmitter):
    settings.LOGOUT_SSO = {"DELIVERY_ALLOW_PRIVATE_ADDRESSES": True}
    source.delivery_method = DeliveryMethod.POLL
    source.save()

    run("stream", *ACME_OKTA)

    source.refresh_from_db()
    assert source.stream_endpoint_url == f"{transmitter.url}/ssf/poll/{source.stream_id}"


@pytest.mark.django_db
def test_a_universal_logout_source_exits_2(acme):
    SignalSource.objects.create(
        organization=acme,
        name="Okta UL",
        kind=SignalKind.UNIVERSAL_LOGOUT,
        issuer="https://acme.okta.com",
        jwks_uri="https://acme.okta.com/oauth2/v1/keys",
    )

    assert failing("status", "--organization", "acme", "--source", "Okta UL")[:2] == (
        2,
        "'Okta UL' is a Universal Logout source: it has no stream.",
    )


def test_help_says_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        call_command("logout_sso_signals", "--help")

    assert "exit codes:\n  0  done" in capsys.readouterr().out
