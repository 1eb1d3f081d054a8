"""Short-lived sessions: each organization's ``session_ttl``, re-checked silently on user action.

Before the deadline a request costs a session read and a cache read: no database query, no IdP
call. After it, the first request re-checks with the IdP (``prompt=none``):

- a browser navigation (GET/HEAD) is redirected to the silent check and comes back to the page;
- a fetch/XHR request gets ``401`` JSON ``{"refresh_url": ...}`` (and the
  ``X-Logout-SSO-Refresh-URL`` header), never a redirect its code would follow blindly;
- an unsafe method (POST, PUT, PATCH, DELETE) is neither redirected nor processed: ``401``, JSON
  or a small page with a button, so no form data is silently lost and nothing is done on an
  expired check.

Nothing polls: a tab that makes no request costs the IdP nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse

from logout_sso.conf import app_settings
from logout_sso.internal.policies import get_policy
from logout_sso.models import LogoutPolicy
from logout_sso.rp.internal import state
from logout_sso.rp.internal.redirects import after_login_url
from logout_sso.rp.internal.state import SignedIn
from logout_sso.rp.views import login_url

__all__ = ["REFRESH_HEADER", "ShortLivedSessionMiddleware"]

REFRESH_HEADER = "X-Logout-SSO-Refresh-URL"
SAFE_METHODS = frozenset({"GET", "HEAD"})
OWN_URL_NAMES = (
    "logout_sso:login",
    "logout_sso:callback",
    "logout_sso:logout",
    "logout_sso:backchannel_logout",
)


def is_script_request(request: HttpRequest) -> bool:
    """Whether a script (fetch, XMLHttpRequest) made the request, not a page navigation."""
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return True
    mode = request.headers.get("Sec-Fetch-Mode")
    if mode:
        return mode != "navigate"
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def exempt_paths() -> list[str]:
    paths = [settings.STATIC_URL or "", settings.MEDIA_URL or ""]
    for entry in (*OWN_URL_NAMES, *app_settings.EXEMPT_PATHS):
        if entry.startswith("/"):
            paths.append(entry)
            continue
        try:
            paths.append(reverse(entry))
        except NoReverseMatch:
            continue  # An optional view this project does not mount.
    # An unset MEDIA_URL reads as "/" (Django prefixes it with the script name): not a prefix
    # to exempt, or every path would be.
    return [path for path in paths if path.startswith("/") and path != "/"]


class ShortLivedSessionMiddleware:
    """Add after ``AuthenticationMiddleware``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.recheck(request) or self.get_response(request)

    def recheck(self, request: HttpRequest) -> HttpResponse | None:
        """The response that asks for a silent re-check, or None to let the request through."""
        signed_in = SignedIn.load(request.session)
        if signed_in is None:
            return None
        try:
            policy = get_policy(signed_in.organization_id)
        except LogoutPolicy.DoesNotExist:
            return None  # The organization was deleted; its sessions end with it.
        if state.now() < signed_in.deadline(policy.session_ttl):
            return None
        if any(request.path.startswith(path) for path in exempt_paths()):
            return None
        if request.method in SAFE_METHODS and not is_script_request(request):
            return _redirect(login_url(policy.slug, request.get_full_path(), silent=True))
        refresh_url = login_url(policy.slug, _page_of(request), silent=True)
        if is_script_request(request):
            response: HttpResponse = JsonResponse(
                {
                    "error": "session_recheck_required",
                    "error_description": "Open refresh_url to re-check your session.",
                    "refresh_url": refresh_url,
                },
                status=401,
            )
        else:
            response = render(
                request,
                "logout_sso/recheck_required.html",
                {"refresh_url": refresh_url},
                status=401,
            )
        response[REFRESH_HEADER] = refresh_url
        response["Cache-Control"] = "no-store"
        return response


def _redirect(url: str) -> HttpResponse:
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "no-store"
    return response


def _page_of(request: HttpRequest) -> str:
    """The page a script request or form post came from (never the script's own URL), so
    that the user comes back there after the re-check."""
    referer = request.headers.get("Referer", "")
    parts = urlsplit(referer)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if parts.netloc and parts.netloc != request.get_host():
        path = ""
    return after_login_url(request, path or None)
