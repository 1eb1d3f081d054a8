"""Settings for logout_sso's test suite.

SQLite by default (a file, so a Celery worker process started by a fixture sees the same test
database); PostgreSQL or any other database when ``DATABASE_URL`` says so.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import dj_database_url

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "logout_sso",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language of the browser (Accept-Language): tests/core/test_translations.py.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "logout_sso.rp.middleware.ShortLivedSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
LOGIN_REDIRECT_URL = "/me/"
LOGOUT_REDIRECT_URL = "/signed-out/"
ROOT_URLCONF = "tests.urls"
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
STATIC_URL = "/static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

_default_sqlite = Path(tempfile.gettempdir()) / f"logout_sso_tests_{os.getuid()}.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{_default_sqlite}"), conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A transaction takes the write lock when it begins: one that read first and wrote later
    # would be refused at once ("database is locked") while another writes, whatever the timeout.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    # One file per test run, so that concurrent runs (tox -p) do not share a database.
    DATABASES["default"]["TEST"] = {
        "NAME": str(_default_sqlite.with_suffix(f".test-{os.getpid()}.sqlite3"))
    }
# A Celery worker started by the test fixtures is pointed at the test database this way.
if os.environ.get("LOGOUT_SSO_TEST_DATABASE_NAME"):
    DATABASES["default"]["NAME"] = os.environ["LOGOUT_SSO_TEST_DATABASE_NAME"]

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "logout-sso-tests",
    }
}

# Celery: the broker is set by the worker fixture (real Redis); nothing runs eagerly.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The suite's cache is per-process on purpose (fast, no server); test_checks covers W002.
SILENCED_SYSTEM_CHECKS = ["logout_sso.W002"]

# A Celery worker process started by the fixtures gets the test's settings this way (see
# tests.services.running_worker): a JSON object of setting names and values.
globals().update(json.loads(os.environ.get("LOGOUT_SSO_TEST_OVERRIDES", "{}")))
