"""Model fields shared by logout_sso's models."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.forms import Field as FormField

from logout_sso.internal.validators import validate_secure_url


class SecureURLField(models.URLField):  # type: ignore[type-arg]
    """A URL that must pass :func:`~logout_sso.internal.validators.validate_secure_url`; in
    forms, a URL typed without a scheme is taken as https (Django 6's default, explicit on 5.2)."""

    default_validators = [*models.URLField.default_validators, validate_secure_url]

    def formfield(self, **kwargs: Any) -> FormField | None:
        return super().formfield(**{"assume_scheme": "https", **kwargs})
