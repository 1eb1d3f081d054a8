"""The example project's own pages: who is signed in, as HTML (``/``) and JSON (``/me/``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from example_project import env
from logout_sso.internal.policies import get_policy
from logout_sso.models import Organization
from logout_sso.rp.internal.state import SignedIn


def whoami(request: HttpRequest) -> dict[str, Any]:
    """The signed-in user, their IdP identity and when their session is re-checked next."""
    user = request.user
    signed_in = SignedIn.load(request.session) if user.is_authenticated else None
    policy = get_policy(signed_in.organization_id) if signed_in else None
    recheck_at = (
        datetime.fromtimestamp(signed_in.deadline(policy.session_ttl), tz=UTC).isoformat()
        if signed_in and policy
        else None
    )
    return {
        "authenticated": user.is_authenticated,
        "user": user.get_username() if user.is_authenticated else None,
        "email": getattr(user, "email", "") or None,
        "sub": signed_in.sub if signed_in else None,
        "organization": policy.slug if policy else None,
        "recheck_at": recheck_at,
    }


def home(request: HttpRequest) -> HttpResponse:
    organizations = Organization.objects.select_related("logout_policy").order_by("name")
    me = whoami(request)
    recheck = datetime.fromisoformat(me["recheck_at"]) if me["recheck_at"] else None
    context = {
        "me": me,
        "recheck": recheck,
        # Django says "0 minutes" for less than a minute to go.
        "recheck_due": recheck is not None and recheck <= timezone.now() + timedelta(minutes=1),
        "site_name": getattr(settings, "EXAMPLE_SITE_NAME", env.DEFAULT_SITE_NAME),
        "organizations": organizations,
    }
    return render(request, "example_project/home.html", context)


def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse(whoami(request))
