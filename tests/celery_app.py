"""The test suite's Celery app: the standard Django wiring, on tests.settings."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

app = Celery("logout_sso_tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
