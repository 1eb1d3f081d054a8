"""The example project's own pages: who is signed in, as HTML (``/``) and JSON (``/me/``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from logout_sso.models import Organization


def whoami(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    return {
        "authenticated": user.is_authenticated,
        "user": user.get_username() if user.is_authenticated else None,
        # Filled in by the OpenID Connect login (the relying-party role) once a user signs in
        # through it; a user of the admin's password login has neither.
        "sub": None,
        "organization": None,
    }


def home(request: HttpRequest) -> HttpResponse:
    organizations = Organization.objects.select_related("logout_policy").order_by("name")
    return render(
        request,
        "example_project/home.html",
        {"me": whoami(request), "organizations": organizations},
    )


def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse(whoami(request))
