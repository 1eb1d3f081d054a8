"""logout_sso's URLs, in the ``logout_sso`` namespace.

Mount them once: ``path("sso/", include("logout_sso.urls"))``.
"""

from __future__ import annotations

from django.urls import path

from logout_sso.hub.jwks_view import jwks
from logout_sso.receiver.views import BackchannelLogoutView
from logout_sso.rp import views

app_name = "logout_sso"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("callback/", views.CallbackView.as_view(), name="callback"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("backchannel-logout/", BackchannelLogoutView.as_view(), name="backchannel_logout"),
    path("jwks/", jwks, name="jwks"),
]
