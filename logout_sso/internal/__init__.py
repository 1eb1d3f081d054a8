"""logout_sso's private machinery, shared by its roles: not part of the public API, it may
change in any release. The public API is :mod:`logout_sso.api` and the modules the docs list."""
