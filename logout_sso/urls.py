"""logout_sso's URLs, in the ``logout_sso`` namespace.

Mount them once: ``path("sso/", include("logout_sso.urls"))``. A project that plays only some
roles may mount only their patterns instead, e.g.
``path("sso/", include((rp_urlpatterns + receiver_urlpatterns, "logout_sso")))``.
"""

from __future__ import annotations

from django.urls import URLPattern, path, re_path

from logout_sso.hub import views as hub_views
from logout_sso.inbound import views as inbound_views
from logout_sso.receiver.views import BackchannelLogoutView
from logout_sso.rp import views as rp_views

__all__ = [
    "hub_urlpatterns",
    "inbound_urlpatterns",
    "receiver_urlpatterns",
    "rp_urlpatterns",
    "urlpatterns",
]

app_name = "logout_sso"

#: The relying party: organization-aware sign-in, the OpenID Connect callback, logout.
rp_urlpatterns: list[URLPattern] = [
    path("login/", rp_views.LoginView.as_view(), name="login"),
    path("callback/", rp_views.CallbackView.as_view(), name="callback"),
    path("logout/", rp_views.LogoutView.as_view(), name="logout"),
]

#: The back-channel logout receiver.
receiver_urlpatterns: list[URLPattern] = [
    path("backchannel-logout/", BackchannelLogoutView.as_view(), name="backchannel_logout"),
]

#: The logout service: its signing keys, its issuer metadata and the session API for
#: applications.
hub_urlpatterns: list[URLPattern] = [
    path("jwks/", hub_views.jwks, name="jwks"),
    # Where receivers discover the hub when HUB_ISSUER is the URL these patterns are mounted at.
    path(
        ".well-known/openid-configuration",
        hub_views.openid_configuration,
        name="openid_configuration",
    ),
    path("api/sessions/", hub_views.sessions, name="api_sessions"),
    # A session id registered before ids with "/" were refused can still be removed.
    path("api/sessions/<path:session_id>/", hub_views.session, name="api_session"),
    path("api/logouts/", hub_views.logouts, name="api_logouts"),
    path("api/logouts/<str:event_id>/", hub_views.logout, name="api_logout"),
    path("api/organizations/", hub_views.organizations, name="api_organizations"),
    # Anything else under api/, a newline included: JSON, never Django's HTML 404.
    re_path(r"^api/(?P<path>[\s\S]*)\Z", hub_views.not_found, name="api_not_found"),
]

#: Logout signals from organizations' own identity providers, each organization its URLs.
inbound_urlpatterns: list[URLPattern] = [
    path(
        "organizations/<slug:organization>/global-token-revocation",
        inbound_views.GlobalTokenRevocationView.as_view(),
        name="global_token_revocation",
    ),
    path(
        "organizations/<slug:organization>/ssf/events",
        inbound_views.SharedSignalsEventsView.as_view(),
        name="ssf_events",
    ),
]

urlpatterns = rp_urlpatterns + receiver_urlpatterns + hub_urlpatterns + inbound_urlpatterns
