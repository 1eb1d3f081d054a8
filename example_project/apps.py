from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.core.management import call_command
from django.db.models.signals import post_migrate


def create_cache_tables(using: str, verbosity: int = 1, **kwargs: Any) -> None:
    """Without ``REDIS_URL`` the cache is a database table: ``migrate`` alone creates it."""
    call_command("createcachetable", database=using, verbosity=verbosity)


class ExampleProjectConfig(AppConfig):
    name = "example_project"

    def ready(self) -> None:
        # Sent for apps with models only (this one has none): after logout_sso's, whose policy
        # cache the table holds.
        post_migrate.connect(create_cache_tables, sender=apps.get_app_config("logout_sso"))
