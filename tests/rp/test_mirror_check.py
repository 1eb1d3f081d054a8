"""System check ``logout_sso.W005``: in client mode, the copy of the hub's organizations and
policies is stale (not confirmed for five times ``POLICY_SYNC_INTERVAL``)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.checks import CheckMessage
from django.core.management import CommandError, call_command
from django.utils import timezone

from logout_sso.checks import Codes, Hints, check_policy_mirror
from logout_sso.models import PolicyMirror
from tests.scripted_hub import hub_organization

pytestmark = pytest.mark.django_db


def run_check() -> list[CheckMessage]:
    return list(check_policy_mirror(app_configs=None, databases=["default"]))


def test_a_fresh_copy_passes(scripted_hub):
    scripted_hub.organizations = [hub_organization(7, "acme")]
    call_command("logout_sso_sync", stdout=StringIO())

    assert run_check() == []


def test_a_copy_never_synced_is_stale(scripted_hub):
    [warning] = run_check()

    assert warning.id == Codes.POLICY_MIRROR_STALE
    assert warning.msg == (
        f"The organizations and policies mirrored from the hub {scripted_hub.api_url} were last "
        "confirmed never, longer ago than 300 s (five times POLICY_SYNC_INTERVAL): no attempt "
        "failed; is the task logout_sso.sync_policies scheduled? The last known ones stay in "
        "force meanwhile."
    )
    assert warning.hint == Hints.POLICY_MIRROR_STALE


def test_a_copy_older_than_five_intervals_is_stale_with_the_last_error(scripted_hub, settings):
    settings.LOGOUT_SSO = scripted_hub.settings(POLICY_SYNC_INTERVAL=10)
    scripted_hub.organizations = [hub_organization(7, "acme")]
    call_command("logout_sso_sync", stdout=StringIO())
    confirmed = timezone.now() - timedelta(seconds=51)
    PolicyMirror.objects.update(synced_at=confirmed)
    scripted_hub.close()
    with pytest.raises(CommandError, match="failed"):
        call_command("logout_sso_sync", stdout=StringIO())

    [warning] = run_check()

    message = warning.msg
    assert f"were last confirmed {confirmed.isoformat()}, longer ago than 50 s" in message
    assert "the last attempt failed: unreachable: " in message


def test_manage_py_check_prints_w005_only_with_database_checks(scripted_hub):
    without, with_database = StringIO(), StringIO()

    call_command("check", stdout=without, stderr=without)
    call_command("check", databases=["default"], stdout=with_database, stderr=with_database)

    assert "logout_sso.W005" not in without.getvalue()
    assert "logout_sso.W005" in with_database.getvalue()


def test_outside_client_mode_nothing_is_said(settings):
    settings.LOGOUT_SSO = {}

    assert run_check() == []


def test_invalid_settings_are_left_to_e001(settings):
    settings.LOGOUT_SSO = {"HUB_URL": "ftp://hub.example.com/", "HUB_API_CREDENTIAL": "c"}

    assert run_check() == []
