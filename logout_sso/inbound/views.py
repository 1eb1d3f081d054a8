"""The endpoints organizations' identity providers call (each organization its own URLs)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

__all__ = ["GlobalTokenRevocationView", "SharedSignalsEventsView"]


@method_decorator(csrf_exempt, name="dispatch")
class GlobalTokenRevocationView(View):
    """Universal Logout: ``POST`` of ``{"sub_id": {...}}`` with a signed JWT bearer."""

    def post(self, request: HttpRequest, organization: str) -> JsonResponse:
        return JsonResponse({"error": "not_implemented"}, status=501)


@method_decorator(csrf_exempt, name="dispatch")
class SharedSignalsEventsView(View):
    """Shared Signals push delivery (RFC 8935): ``POST`` of an ``application/secevent+jwt``."""

    def post(self, request: HttpRequest, organization: str) -> JsonResponse:
        return JsonResponse({"err": "not_implemented"}, status=501)
