"""logout_sso's example project: a runnable Django project using the app."""

from example_project.celery import app as celery_app

__all__ = ["celery_app"]
