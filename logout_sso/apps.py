from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LogoutSSOConfig(AppConfig):
    name = "logout_sso"
    verbose_name = _("Single Logout")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from logout_sso import checks, handlers  # noqa: F401 - registers checks and handlers

        handlers.connect_hub_handlers()
