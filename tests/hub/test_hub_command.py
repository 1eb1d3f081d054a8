"""``manage.py logout_sso_application``: what a deployment script sees."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from logout_sso.models import Application, Delivery, LogoutEvent
from logout_sso.models.events import Initiator
from tests.hub_receivers import IDP_ISSUER, register_application

URI = "https://wiki.example.com/sso/backchannel-logout/"


def run(*args: str) -> str:
    output = StringIO()
    call_command("logout_sso_application", *args, stdout=output)
    return output.getvalue()


def add(*extra: str) -> str:
    return run(
        "add", "--name", "Wiki", "--client-id", "wiki",
        "--backchannel-logout-uri", URI, "--organization", "acme", *extra,
    )  # fmt: skip


def test_add_prints_the_credential_once_and_stores_only_its_digest(acme):
    printed = json.loads(add("--json"))

    application = Application.objects.get(client_id="wiki")
    assert printed["organizations"] == ["acme"]
    assert printed["credential"].startswith("lsso_")
    assert Application.authenticate(printed["credential"]) == application
    stored = Application.objects.filter(pk=application.pk).values().get()
    secret = printed["credential"].split("_", 2)[2]
    assert not any(secret in str(value) for value in stored.values())


def test_add_in_plain_text_says_what_it_did(acme):
    output = add()

    assert "Application Wiki (wiki) registered." in output
    assert "API credential (shown once, store it now): lsso_" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--organization", "nope"), "Unknown organization(s): nope."),
        (("--backchannel-logout-uri", "http://wiki.example.com/bcl"), "must use https"),
        (("--backchannel-logout-uri", "https://wiki.example.com/bcl#x"), "fragment"),
    ],
)
def test_add_with_bad_input_fails_with_one_line_and_saves_nothing(acme, args, message):
    base = {"--organization": "acme", "--backchannel-logout-uri": URI}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    argv = ["add", "--name", "Wiki", "--client-id", "wiki"]
    for option, value in base.items():
        argv += [option, value]

    with pytest.raises(CommandError, match=re.escape(message)):
        run(*argv)
    assert not Application.objects.exists()


def test_add_twice_is_refused(acme):
    add()

    with pytest.raises(CommandError, match="Client id already exists"):
        add()


def test_rotate_replaces_the_credential(acme):
    old = json.loads(add("--json"))["credential"]

    new = json.loads(run("rotate", "--client-id", "wiki", "--json"))["credential"]

    assert Application.authenticate(old) is None
    assert Application.authenticate(new) is not None


def test_disable_stops_api_access(acme):
    credential = json.loads(add("--json"))["credential"]

    printed = json.loads(run("disable", "--client-id", "wiki", "--json"))

    assert printed["enabled"] is False
    assert "credential" not in printed
    assert Application.authenticate(credential) is None


def test_unknown_client_id_fails(acme):
    with pytest.raises(CommandError, match=re.escape("No application with client id 'ghost'.")):
        run("rotate", "--client-id", "ghost")


def test_the_sweeper_command_sends_what_is_due(acme, hub_settings, receivers):
    receiver = receivers()
    application, _ = register_application("crm", acme, uri=receiver.url)
    event = LogoutEvent.objects.create(initiator=Initiator.API, issuer=IDP_ISSUER, sub="a")
    Delivery.objects.create(event=event, application=application, next_attempt_at=timezone.now())
    output = StringIO()

    call_command("logout_sso_send_due", stdout=output)

    assert output.getvalue() == "1 delivered now; 0 still pending.\n"
    assert Delivery.objects.get().state == "delivered"
    assert len(receiver.received) == 1
