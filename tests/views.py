"""Pages of the test project, standing in for an integrator's application."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
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


def signed_out(request: HttpRequest) -> HttpResponse:
    return HttpResponse("signed out")
