"""logout_sso's URLs, in the ``logout_sso`` namespace.

Mount them once: ``path("sso/", include("logout_sso.urls"))``.

The role views (login, callback, logout, back-channel logout, JWKS, session API) join this list
as they are built.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

app_name = "logout_sso"

urlpatterns: list[URLPattern | URLResolver] = []
