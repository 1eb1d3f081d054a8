"""The test suite's Django project (tests.settings) as a WSGI application, for gunicorn in the
benchmarks (:mod:`benchmarks.wsgi_server`): the tests' Celery app is loaded first, as a project's
``__init__`` loads its own, so that the tasks the hub queues go to the broker of the settings."""

from __future__ import annotations

from django.core.wsgi import get_wsgi_application

from tests.celery_app import app as celery_app

__all__ = ["application", "celery_app"]

application = get_wsgi_application()
