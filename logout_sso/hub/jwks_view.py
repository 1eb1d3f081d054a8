"""``GET /sso/jwks/``: the hub's public signing keys, for receivers to verify logout tokens."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from logout_sso.hub.keys import published_jwks

#: Receivers cache the set; a new key is published (inactive) longer than this before use.
MAX_AGE_SECONDS = 300


@require_safe
def jwks(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(published_jwks())
    response["Cache-Control"] = f"public, max-age={MAX_AGE_SECONDS}"
    response["Content-Type"] = "application/jwk-set+json"
    return response
