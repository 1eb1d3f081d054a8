"""Fixtures of the relying party's tests (login, logout, the short-lived-session middleware,
the session index, the interop tests against node-oidc-provider).

No fixture is shared among these modules yet: each module's own are in it. The suite's
fixtures (``acme``, ``make_organization``, ``captured_signals``, ...) are in
``tests/conftest.py``; the OpenID provider (``oidc_provider_factory``) and the services
(``redis_url``, ``celery_worker``) come from the plugins it registers.
"""
