"""Settings of logout_sso's example project, from environment variables only.

- ``DATABASE_URL``: default a SQLite file in ``var/``.
- ``REDIS_URL``: when set, django-redis for cache and sessions and Redis as Celery broker;
  when absent, the database cache and a broker that needs no server.
- ``OIDC_*``: mozilla-django-oidc's settings under their own names, or ``OIDC_OP_ISSUER`` for
  discovery. The OpenID Connect login is enabled when ``OIDC_RP_CLIENT_ID`` is set.
- ``LOGOUT_SSO_<KEY>``: any ``LOGOUT_SSO`` key, as JSON.
- ``EXAMPLE_SITE_NAME``: the name its pages show (default "logout_sso example project").
- ``DJANGO_DEBUG`` (default true), ``DJANGO_SECRET_KEY`` (required when DEBUG is off),
  ``DJANGO_ALLOWED_HOSTS`` (comma-separated).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from example_project import env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env.var_dir(os.environ)
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.parse_bool("DJANGO_DEBUG", os.environ.get("DJANGO_DEBUG", "true"))
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY when DJANGO_DEBUG is off.")
    SECRET_KEY = "example-project-development-only"  # noqa: S105 - DEBUG only
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "logout_sso",
    "example_project",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Pages in the browser's language (Accept-Language) among LANGUAGES: logout_sso's pages and
    # the admin speak French too. Before ShortLivedSessionMiddleware, whose page it translates.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "logout_sso.rp.middleware.ShortLivedSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'example.sqlite3'}"),
        conn_max_age=60,
        # Each worker task (and request) checks a kept connection first: after a database
        # restart it opens a new one instead of failing (docs/deployment.md).
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web processes and workers write at once: a transaction takes the write lock when it
    # begins, else one that read first is refused ("database is locked") whatever the timeout.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_services = env.cache_and_broker_settings(os.environ.get("REDIS_URL"), VAR_DIR)
CACHES = _services["CACHES"]
SESSION_ENGINE = _services["SESSION_ENGINE"]
CELERY_BROKER_URL = _services["CELERY_BROKER_URL"]
CELERY_BROKER_TRANSPORT_OPTIONS = _services["CELERY_BROKER_TRANSPORT_OPTIONS"]
# Durability: a message is acknowledged only once its task ran; a worker takes one at a time.
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery closes the database connection after every task unless told to reuse it (a new
# PostgreSQL connection costs a delivery task milliseconds before its first POST).
CELERY_DB_REUSE_MAX = 100
CELERY_TASK_IGNORE_RESULT = True
# Organization-wide logouts (bulk work) go to a queue of their own, so a worker serving it
# never holds back a single user's logout; the demo's worker takes both queues.
CELERY_TASK_ROUTES = {
    "logout_sso.run_organization_logout": {"queue": env.BULK_QUEUE},
    "logout_sso.deliver_organization_logout": {"queue": env.BULK_QUEUE},
}
CELERY_BEAT_SCHEDULE = {
    "logout_sso-close-expired-sessions": {
        "task": "logout_sso.close_expired_sessions",
        "schedule": 300.0,
    },
    "logout_sso-send-due-deliveries": {
        "task": "logout_sso.send_due_deliveries",
        "schedule": 30.0,
    },
    "logout_sso-purge": {  # retention: daily, off-peak
        "task": "logout_sso.purge",
        "schedule": crontab(hour=3, minute=30),
    },
}

AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
globals().update(env.oidc_settings(os.environ))
if os.environ.get("OIDC_RP_CLIENT_ID"):
    AUTHENTICATION_BACKENDS.insert(0, "logout_sso.rp.backend.OrganizationOIDCBackend")
    OIDC_RP_SIGN_ALGO = os.environ.get("OIDC_RP_SIGN_ALGO", "RS256")
# Two copies of the example project on one host (the demo's two applications) need cookies of
# their own: cookies are per host, not per port.
SESSION_COOKIE_NAME = os.environ.get("DJANGO_SESSION_COOKIE_NAME", "sessionid")
CSRF_COOKIE_NAME = os.environ.get("DJANGO_CSRF_COOKIE_NAME", "csrftoken")

LOGOUT_SSO = env.logout_sso_settings(os.environ)
# Client mode: the hub's organizations and policies, mirrored every POLICY_SYNC_INTERVAL.
CELERY_BEAT_SCHEDULE |= env.policy_sync_schedule(LOGOUT_SSO)

#: The name the example project's pages show (the demo: "Wiki", "Billing").
EXAMPLE_SITE_NAME = os.environ.get("EXAMPLE_SITE_NAME", env.DEFAULT_SITE_NAME)

LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
STATIC_URL = "/static/"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
#: The languages logout_sso ships (each in its own name, as a language menu shows it).
LANGUAGES = [("en", "English"), ("fr", "Français")]
