"""The shipped migrations match the models, and every field explains itself to admins."""

from __future__ import annotations

from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.utils.functional import Promise


@pytest.mark.django_db
def test_models_match_migrations():
    output = StringIO()
    call_command("makemigrations", "logout_sso", check=True, dry_run=True, stdout=output)


@pytest.mark.parametrize(
    "field",
    [
        field
        for model in apps.get_app_config("logout_sso").get_models()
        for field in model._meta.get_fields()
        if field.concrete and not field.auto_created
    ],
    ids=str,
)
def test_every_field_has_a_verbose_name_and_help_text(field):
    # Set explicitly and translatable: a default verbose name is a plain str.
    assert isinstance(field.verbose_name, Promise)
    assert isinstance(field.help_text, Promise)
    assert str(field.help_text).strip()
