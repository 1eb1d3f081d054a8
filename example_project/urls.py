from django.contrib import admin
from django.urls import include, path

from example_project import views

urlpatterns = [
    path("", views.home, name="home"),
    path("me/", views.me, name="me"),
    path("admin/", admin.site.urls),
    path("sso/", include("logout_sso.urls")),
]
