from django.contrib import admin
from django.urls import include, path

from tests import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("sso/", include("logout_sso.urls")),
    path("me/", views.me, name="me"),
    path("form/", views.form, name="form"),
    path("note/", views.note, name="note"),
    path("signed-out/", views.signed_out, name="signed-out"),
]
