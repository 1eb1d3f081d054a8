"""Prometheus metrics (the ``[metrics]`` extra, prometheus-client): the view a project mounts,
and the endpoint of a Celery worker host.

``path("metrics/", MetricsView.as_view())`` in the project's URLconf; the metrics, why some are
counted where they happen and others read from the database, and the access rules are in the
[metrics guide](../guides/metrics.md).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.generic import View

from logout_sso.conf import app_settings
from logout_sso.internal import metrics

__all__ = ["MetricsView", "start_metrics_server"]

EXTRA_MISSING = (
    "logout_sso's metrics need prometheus-client: pip install 'django-logout-sso[metrics]'."
)


def _require_prometheus_client() -> None:
    if not metrics.enabled():
        raise ImproperlyConfigured(EXTRA_MISSING)


class MetricsView(View):
    """The metrics in Prometheus' text format: this host's counters and the figures read from
    the database. Active staff users may read them, and clients whose ``REMOTE_ADDR`` is in
    ``LOGOUT_SSO["METRICS_ALLOWED_NETWORKS"]``; anyone else gets ``403``. Override
    :meth:`allows` to decide otherwise."""

    http_method_names = ["get", "head"]

    def allows(self, request: HttpRequest) -> bool:
        """Whether ``request`` may read the metrics."""
        user = getattr(request, "user", None)
        if user is not None and user.is_active and user.is_staff:
            return True
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
        return any(address in network for network in app_settings.METRICS_ALLOWED_NETWORKS)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not self.allows(request):
            return HttpResponse(
                _("Metrics are for staff users and METRICS_ALLOWED_NETWORKS only."),
                status=403,
                content_type="text/plain; charset=utf-8",
            )
        _require_prometheus_client()
        from prometheus_client import CONTENT_TYPE_LATEST

        from logout_sso.internal.metrics.exposition import scrape

        response = HttpResponse(scrape(), content_type=CONTENT_TYPE_LATEST)
        response["Cache-Control"] = "no-store"
        return response


def start_metrics_server(port: int, address: str) -> None:
    """Serve this host's counters at ``http://<address>:<port>/metrics`` from a thread of this
    process, with no access control: for a Celery worker host that runs no web process. It
    serves every process's counters when ``PROMETHEUS_MULTIPROC_DIR`` is set (call it from
    Celery's ``worker_init``, in the worker's main process: its pool's processes count), else
    this process's; never the database's figures (the web's :class:`MetricsView` has them)."""
    _require_prometheus_client()
    from prometheus_client import start_http_server

    from logout_sso.internal.metrics.exposition import host_metrics

    start_http_server(port, address, registry=host_metrics())
