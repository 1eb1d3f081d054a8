from django.contrib import admin
from django.urls import include, path

from logout_sso.metrics import MetricsView
from tests import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("sso/", include("logout_sso.urls")),
    path("metrics/", MetricsView.as_view(), name="metrics"),
    path("me/", views.me, name="me"),
    path("form/", views.form, name="form"),
    path("note/", views.note, name="note"),
    path("signed-out/", views.signed_out, name="signed-out"),
]
