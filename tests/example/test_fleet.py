"""One fleet: two example-project applications as the demo runs them (Wiki the hub, Billing its
client), Billing on real Redis (cache, sessions, broker), each with a real Celery worker (Billing's
running beat). A TTL edited in Wiki's database applies in Billing's request path within Billing's
``POLICY_SYNC_INTERVAL``; a Billing sign-in of an organization the hub does not serve it sends
nothing and is said once; the hub admin's "log out everywhere" ends the user's sessions in both,
the hub's own included."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pytest
import redis
import requests

from example_project import topology
from example_project.demo import DEMO_PASSWORD
from example_project.runner import Service
from tests.example.demo_processes import (
    MIRRORED,
    RunningDemo,
    answers,
    prepare,
    running,
    shell,
    sign_in,
)
from tests.relying_parties import CONFIG_PREFIXES
from tests.services import free_port

INTERVAL = 5  # Billing's POLICY_SYNC_INTERVAL here: the smallest allowed
#: Beat's tick, the task, the commit and a request: what "within the interval" may take beyond
#: the interval itself.
SLACK_SECONDS = 3.0

SHORTEN_ACMES_TTL = """
import time
from logout_sso.models import LogoutPolicy
policy = LogoutPolicy.objects.get(organization__slug="acme")
policy.session_ttl = 60
policy.save()
print(time.time())
"""
ADD_A_LOCAL_ORGANIZATION = """
from logout_sso.models import Organization
Organization.objects.get_or_create(slug="initech", defaults={"name": "Initech"})
print("ok")
"""
BILLINGS_SESSIONS_AT_THE_HUB = """
from logout_sso.models import TrackedSession
sessions = TrackedSession.objects.live().filter(application__client_id="billing")
print(sorted(sessions.values_list("organization__slug", flat=True)))
"""


TRACKED_SESSION_OF = """
from logout_sso.models import TrackedSession
print(TrackedSession.objects.live().filter(sub={sub!r}).values_list("pk", flat=True).first() or "")
"""
ENDED_HERE = """
from logout_sso.models import LogoutEvent
print(LogoutEvent.objects.get(sub={sub!r}, initiator="admin").sessions_ended)
"""


def signed_in(site_url: str, cookie: str, session_key: str) -> bool:
    """Whether the session is signed in at that site (``/me/``)."""
    me = requests.get(f"{site_url}/me/", cookies={cookie: session_key}, timeout=5).json()
    return bool(me["authenticated"])


@dataclass
class Fleet:
    demo: RunningDemo
    wiki: topology.Site
    billing: topology.Site
    environments: dict[str, dict[str, str]]

    def shell(self, site: str, code: str) -> str:
        return shell(self.environments[site], code)

    def sign_in_at_billing(self, organization: str, username: str) -> tuple[str, str]:
        """A sign-in at Billing: the session key, and what the process wrote on stderr."""
        return sign_in(self.environments["billing"], organization=organization, sub=username)

    def sign_in_at_wiki(self, organization: str, username: str) -> str:
        """A sign-in at Wiki, the hub itself: its session key."""
        return sign_in(self.environments["wiki"], organization=organization, sub=username)[0]

    def wiki_admin(self) -> requests.Session:
        """A browser signed in to Wiki's admin as the demo's superuser."""
        browser = requests.Session()
        login = f"{self.wiki.url}/admin/login/"
        browser.get(login, timeout=5)
        signed_in = browser.post(
            login,
            data={
                "username": "admin",
                "password": DEMO_PASSWORD,
                "csrfmiddlewaretoken": browser.cookies["wiki_csrftoken"],
                "next": "/admin/",
            },
            headers={"Referer": login},
            timeout=10,
        )
        assert "Log out" in signed_in.text, signed_in.text[-500:]
        return browser

    def log(self, name: str) -> str:
        return (self.demo.log_dir / f"{name}.log").read_text(errors="replace")


def on_redis(service: Service, redis_url: str) -> Service:
    """Billing's processes: Redis for cache, sessions and broker; a short sync interval."""
    env = {
        **service.env,
        "REDIS_URL": redis_url,
        "LOGOUT_SSO_POLICY_SYNC_INTERVAL": str(INTERVAL),
    }
    return replace(service, env=env)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Fleet]:
    """The demo's processes (without the provider), Billing's on Redis; once Billing mirrors
    the hub's organizations. This process's environment is an operator's shell meanwhile: no
    example-project configuration but ``EXAMPLE_VAR_DIR``."""
    var_dir = tmp_path_factory.mktemp("fleet")
    # Billing's cache is this Redis database: what an earlier run left there (policies of
    # organizations with the same ids, the once-an-hour warning's flag) must not leak in.
    redis.Redis.from_url(redis_url).flushdb()
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(CONFIG_PREFIXES):
                patch.delenv(name)
        patch.setenv("EXAMPLE_VAR_DIR", str(var_dir))
        wiki, billing = (replace(site, port=free_port()) for site in topology.SITES)
        credential = prepare(var_dir, wiki, billing)
        services = [
            on_redis(service, redis_url) if service.name.startswith("billing") else service
            for service in topology.services(
                var_dir, with_provider=False, credential=credential, sites=(wiki, billing)
            )
        ]
        environments = {service.name: dict(service.env) for service in services}
        with running(services, var_dir / "logs") as demo:
            fleet = Fleet(demo, wiki, billing, environments)
            demo.wait_for(answers(f"{wiki.sso_url}jwks/"), "Wiki does not answer")
            demo.wait_for(answers(f"{billing.url}/me/"), "Billing does not answer")
            demo.wait_for(
                lambda: fleet.shell("billing", MIRRORED) == "['acme', 'globex']",
                "Billing did not mirror the hub's organizations",
            )
            yield fleet


def recheck_at(fleet: Fleet, session_key: str) -> datetime:
    """When Billing's request path says the session is re-checked next (``/me/``, which reads
    the organization's policy from the shared cache)."""
    body: dict[str, Any] = requests.get(
        f"{fleet.billing.url}/me/", cookies={"billing_session": session_key}, timeout=5
    ).json()
    assert body["authenticated"], body
    return datetime.fromisoformat(body["recheck_at"])


def test_a_ttl_edited_at_the_hub_applies_in_the_client_within_the_interval(fleet):
    session_key, _log = fleet.sign_in_at_billing("acme", "alice@acme.example")
    before = recheck_at(fleet, session_key)

    edited_at = float(fleet.shell("wiki", SHORTEN_ACMES_TTL))
    fleet.demo.wait_for(
        lambda: round((before - recheck_at(fleet, session_key)).total_seconds()) == 240,
        "Billing did not follow the TTL edited at the hub",
    )
    applied_after = time.time() - edited_at

    print(
        f"\nTTL edited at the hub applied in the client's request path after {applied_after:.2f} s"
    )
    assert applied_after <= INTERVAL + SLACK_SECONDS
    worker = fleet.log("billing-worker")
    assert "logout_sso.sync_policies" in worker
    assert "Traceback" not in worker


def test_a_sign_in_of_an_organization_the_hub_does_not_serve_sends_nothing_and_says_so_once(
    fleet,
):
    assert fleet.shell("billing", ADD_A_LOCAL_ORGANIZATION) == "ok"

    _key, first = fleet.sign_in_at_billing("initech", "carol@initech.example")
    _key, second = fleet.sign_in_at_billing("initech", "dave@initech.example")
    fleet.sign_in_at_billing("globex", "bob@globex.example")  # served: registered

    assert first.count("Sign-ins of organization 'initech' are not registered at the hub") == 1
    assert "initech" not in second  # once an hour, across processes (the flag is in Redis)
    # Billing's worker takes its tasks in order, one at a time: once globex's registration
    # arrived, one of initech would have been sent before it.
    fleet.demo.wait_for(
        lambda: "globex" in fleet.shell("wiki", BILLINGS_SESSIONS_AT_THE_HUB),
        "Billing's worker did not register globex's sign-in at the hub",
    )
    assert "initech" not in fleet.shell("wiki", BILLINGS_SESSIONS_AT_THE_HUB)
    assert "refused" not in fleet.log("billing-worker")


def test_each_application_shows_its_name_the_users_email_and_the_next_recheck(fleet):
    session_key, _log = fleet.sign_in_at_billing("globex", "gina@globex.example")

    page = requests.get(
        f"{fleet.billing.url}/", cookies={"billing_session": session_key}, timeout=5
    ).text

    assert '<h1 id="site">Billing</h1>' in page
    assert '<strong id="user">gina@globex.example</strong>' in page
    # Globex's TTL is 600 s: the re-check is due in 9 minutes and some seconds.
    assert re.search(r'<span id="recheck" title="[^"]+">in (9|10)\s+minutes</span>', page), page
    wiki = requests.get(f"{fleet.wiki.url}/", timeout=5).text
    assert '<h1 id="site">Wiki</h1>' in wiki


def test_the_hub_admins_log_out_everywhere_ends_the_hubs_own_session_too(fleet):
    billing_key, _log = fleet.sign_in_at_billing("globex", "frank@globex.example")
    wiki_key = fleet.sign_in_at_wiki("globex", "frank@globex.example")
    fleet.demo.wait_for(
        lambda: fleet.shell("wiki", TRACKED_SESSION_OF.format(sub="frank@globex.example")) != "",
        "Billing's worker did not register the sign-in at the hub",
    )
    tracked = fleet.shell("wiki", TRACKED_SESSION_OF.format(sub="frank@globex.example"))
    admin = fleet.wiki_admin()

    response = admin.post(
        f"{fleet.wiki.url}/admin/logout_sso/trackedsession/",
        data={
            "action": "log_out_users_everywhere",
            "confirm": "yes",
            "_selected_action": tracked,
            "csrfmiddlewaretoken": admin.cookies["wiki_csrftoken"],
        },
        headers={"Referer": f"{fleet.wiki.url}/admin/"},
        timeout=10,
    )

    assert response.ok, response.text[-500:]
    assert "1 user logged out: 1 back-channel logouts queued." in response.text
    assert not signed_in(fleet.wiki.url, "wiki_session", wiki_key)  # The hub's own.
    fleet.demo.wait_for(
        lambda: not signed_in(fleet.billing.url, "billing_session", billing_key),
        "the hub's worker did not log the user out of Billing",
    )
    assert fleet.shell("wiki", ENDED_HERE.format(sub="frank@globex.example")) == "1"


def test_an_organization_the_hub_stops_serving_is_removed_in_the_client(fleet):
    """Last: it changes the fleet. Billing no longer serves Acme at the hub."""
    session_key, _log = fleet.sign_in_at_billing("acme", "erin@acme.example")
    assert recheck_at(fleet, session_key)

    fleet.shell(
        "wiki",
        "from logout_sso.models import Application, Organization\n"
        "Application.objects.get(client_id='billing').organizations.remove("
        "Organization.objects.get(slug='acme'))\nprint('ok')",
    )

    fleet.demo.wait_for(
        lambda: fleet.shell("billing", MIRRORED) == "['globex']",
        "Billing did not remove the organization the hub stopped serving",
    )
    me = requests.get(
        f"{fleet.billing.url}/me/", cookies={"billing_session": session_key}, timeout=5
    ).json()
    assert me["authenticated"] is False
