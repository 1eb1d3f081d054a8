from django.contrib import admin
from django.urls import include, path

from example_project import views
from logout_sso.metrics import MetricsView

urlpatterns = [
    path("", views.home, name="home"),
    path("me/", views.me, name="me"),
    path("admin/", admin.site.urls),
    path("sso/", include("logout_sso.urls")),
    # Prometheus: staff, or LOGOUT_SSO_METRICS_ALLOWED_NETWORKS='["10.0.0.0/8"]'.
    path("metrics/", MetricsView.as_view(), name="metrics"),
]
