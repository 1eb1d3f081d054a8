"""Users as the admin names them: by their name or email where the user model has them, since
the username of a user created at an OpenID Connect sign-in is a digest of their email."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser


def readable_name(user: AbstractBaseUser | None) -> str:
    """ "Ada Lovelace <ada@acme.example>", the name or the email alone, else the username;
    "-" for nobody."""
    if user is None:
        return "-"
    full_name = getattr(user, "get_full_name", lambda: "")().strip()
    email = str(getattr(user, user.get_email_field_name(), "") or "")
    if full_name and email:
        return f"{full_name} <{email}>"
    return full_name or email or user.get_username()
