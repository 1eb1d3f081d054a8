"""logout_sso's admin, scoped per organization (see :mod:`logout_sso.admin.scoping`)."""

from logout_sso.admin import (  # noqa: F401
    applications,
    events,
    health,
    jobs,
    organizations,
    sessions,
    signal_sources,
)
