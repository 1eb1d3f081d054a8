"""Pages of the test project, standing in for an integrator's application."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods

#: Requests that reached a view, so tests can prove a request was or was not processed.
PROCESSED: list[str] = []


def me(request: HttpRequest) -> JsonResponse:
    PROCESSED.append(f"{request.method} {request.path}")
    return JsonResponse(
        {"authenticated": request.user.is_authenticated, "user": request.user.get_username()}
    )


@require_http_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
def form(request: HttpRequest) -> HttpResponse:
    PROCESSED.append(f"{request.method} {request.path}")
    return HttpResponse("saved" if request.method != "GET" else "form")


def note(request: HttpRequest) -> HttpResponse:
    """A page with a form, as a person fills one in (the browser tests): saved on POST."""
    PROCESSED.append(f"{request.method} {request.path}")
    if request.method == "POST":
        return HttpResponse(format_html("<p>Saved: {}</p>", request.POST.get("text", "")))
    return HttpResponse(
        format_html(
            '<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="{}">'
            '<label>Note <textarea name="text"></textarea></label>'
            '<button type="submit">Save</button></form>',
            get_token(request),
        )
    )


def signed_out(request: HttpRequest) -> HttpResponse:
    return HttpResponse("signed out")
