"""logout_sso's admin, scoped per organization (see :mod:`logout_sso.admin.scoping`)."""

from logout_sso.admin import applications, events, jobs, organizations, sessions  # noqa: F401
