from __future__ import annotations

from typing import Any

from celery.signals import beat_init
from django.apps import AppConfig, apps
from django.core.management import call_command
from django.db.models.signals import post_migrate

from example_project.env import POLICY_SYNC_ENTRY


def create_cache_tables(using: str, verbosity: int = 1, **kwargs: Any) -> None:
    """Without ``REDIS_URL`` the cache is a database table: ``migrate`` alone creates it."""
    call_command("createcachetable", database=using, verbosity=verbosity)


def sync_policies_at_start(sender: Any, **kwargs: Any) -> None:
    """Client mode: beat runs its first policy sync an interval after it starts; this one
    mirrors the hub at once (should the hub not answer yet, the schedule tries again)."""
    entry = sender.app.conf.beat_schedule.get(POLICY_SYNC_ENTRY)
    if entry is not None:
        sender.app.send_task(entry["task"])


class ExampleProjectConfig(AppConfig):
    name = "example_project"

    def ready(self) -> None:
        # Sent for apps with models only (this one has none): after logout_sso's, whose policy
        # cache the table holds.
        post_migrate.connect(create_cache_tables, sender=apps.get_app_config("logout_sso"))
        beat_init.connect(sync_policies_at_start, weak=False, dispatch_uid="sync_policies_at_start")
