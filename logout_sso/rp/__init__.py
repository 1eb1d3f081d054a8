"""The relying-party role: organization-aware OpenID Connect login on mozilla-django-oidc,
per-organization short-lived sessions with silent re-checks, and RP-initiated logout."""
