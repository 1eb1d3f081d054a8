"""logout_sso's URLs, in the ``logout_sso`` namespace.

Mount them once: ``path("sso/", include("logout_sso.urls"))``.
"""

from __future__ import annotations

from django.urls import path, re_path

from logout_sso.hub import api
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
    path("api/sessions/", api.sessions, name="api_sessions"),
    # A session id registered before ids with "/" were refused can still be removed.
    path("api/sessions/<path:session_id>/", api.session, name="api_session"),
    path("api/logouts/", api.logouts, name="api_logouts"),
    path("api/logouts/<str:event_id>/", api.logout, name="api_logout"),
    # Anything else under api/, a newline included: JSON, never Django's HTML 404.
    re_path(r"^api/(?P<path>[\s\S]*)\Z", api.not_found, name="api_not_found"),
]
