"""The relying party's views: login, the OpenID Connect callback, logout."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import View
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from logout_sso.internal.discovery import ProviderError
from logout_sso.internal.policies import OrganizationPolicy, get_policy
from logout_sso.internal.session_index import index_session, unindex_session
from logout_sso.internal.untrusted import printable
from logout_sso.models import LogoutPolicy
from logout_sso.models.events import Initiator
from logout_sso.models.organizations import SLOMode
from logout_sso.rp.backend import PENDING_ATTEMPT, VERIFIED_LOGIN, LoginRejected
from logout_sso.rp.internal import oidc, state
from logout_sso.rp.internal.logouts import end_local_session
from logout_sso.rp.internal.redirects import (
    after_login_url,
    allowlisted_after_logout_url,
    default_after_logout_url,
    local_url,
)
from logout_sso.rp.internal.state import LoginAttempt, SignedIn
from logout_sso.rp.logout_urls import LogoutRequest, logout_url
from logout_sso.rp.resolvers import resolve_organization
from logout_sso.signals import signed_in

__all__ = ["CallbackView", "LoginView", "LogoutView"]

logger = logging.getLogger(__name__)

FAILED_SIGN_IN = gettext_lazy("The sign-in could not be completed. Please try again.")


def login_url(organization_slug: str, next_url: str, *, silent: bool = False) -> str:
    """The URL of :class:`LoginView` for that organization, coming back to ``next_url``."""
    params = {"organization": organization_slug, "next": next_url}
    if silent:
        params["prompt"] = "none"
    return f"{reverse('logout_sso:login')}?{urlencode(params)}"


def authorize_params(policy: OrganizationPolicy, *, silent: bool) -> dict[str, str]:
    """The organization's parameters of the authorization request (Auth0's names)."""
    params = {}
    if policy.idp_organization_id:
        params["organization"] = policy.idp_organization_id
    if policy.auto_forward and policy.connection:
        params["connection"] = policy.connection
    if silent:
        params["prompt"] = "none"
    return params


def failure_page(request: HttpRequest, message: str | Promise, *, status: int) -> HttpResponse:
    return render(request, "logout_sso/login_failed.html", {"message": message}, status=status)


class LoginView(OIDCAuthenticationRequestView):  # type: ignore[misc]
    """``GET /sso/login/?organization=<slug>&next=<path>``: start the OpenID Connect login for
    that organization (``prompt=none``: the silent re-check)."""

    get_settings = staticmethod(oidc.oidc_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        organization = resolve_organization(request)
        if organization is None:
            return failure_page(
                request,
                _("Which organization are you signing in to? This link names none we know."),
                status=400,
            )
        silent = request.GET.get("prompt") == "none"
        self.organization_params = authorize_params(get_policy(organization.pk), silent=silent)
        response: HttpResponse = super().get(request)
        state = parse_qs(urlsplit(response["Location"]).query)["state"][0]
        attempt = LoginAttempt(
            organization_id=organization.pk,
            next_url=after_login_url(request, request.GET.get("next")),
            silent=silent,
        )
        attempt.attach(request.session["oidc_states"][state])
        request.session.pop("oidc_login_next", None)  # One per login, in its state entry.
        request.session.modified = True
        return response

    def get_extra_params(self, request: HttpRequest) -> dict[str, Any]:
        return {**super().get_extra_params(request), **self.organization_params}


class CallbackView(OIDCAuthenticationCallbackView):  # type: ignore[misc]
    """The redirect URI registered at the IdP: finishes logins and silent re-checks."""

    get_settings = staticmethod(oidc.oidc_setting)
    attempt: LoginAttempt | None

    def get(self, request: HttpRequest) -> HttpResponse:
        state_entry = request.session.get("oidc_states", {}).get(request.GET.get("state", ""))
        self.attempt = LoginAttempt.from_state_entry(state_entry)
        setattr(request, PENDING_ATTEMPT, self.attempt)
        if request.GET.get("error"):
            logger.info(
                "The identity provider answered a sign-in with %s: %s",
                printable(request.GET.get("error", ""), limit=100),
                printable(request.GET.get("error_description", ""), limit=300),
            )
        if self.attempt is None:
            # No sign-in of this browser is under way for this state: a link anyone can craft,
            # which must neither end the session it is opened in nor start one.
            return failure_page(request, FAILED_SIGN_IN, status=400)
        if request.GET.get("error"):
            if self.attempt.silent:
                # The IdP's session is gone: so is this one, at once.
                end_local_session(request, Initiator.SILENT_RECHECK)
            else:
                # mozilla-django-oidc logs the user out on any error: keep the index true.
                unindex_session(request.session.session_key)
        try:
            response: HttpResponse = super().get(request)
        except LoginRejected as exc:
            return failure_page(request, str(exc), status=403)
        return response

    @property
    def success_url(self) -> str:
        assert self.attempt is not None
        return self.attempt.next_url

    def login_success(self) -> HttpResponse:
        request = self.request
        claims, id_token = getattr(request, VERIFIED_LOGIN)
        previous_key = request.session.session_key
        response: HttpResponse = super().login_success()  # auth.login() rotates the key
        assert self.attempt is not None
        SignedIn(
            organization_id=self.attempt.organization_id,
            issuer=claims["iss"],
            sub=claims["sub"],
            sid=claims.get("sid", ""),
            id_token=id_token,
            checked_at=state.now(),
        ).save(request.session)
        request.session.save()
        if previous_key != request.session.session_key:
            unindex_session(previous_key)
        identity = {
            "issuer": claims["iss"],
            "sub": claims["sub"],
            "sid": claims.get("sid", ""),
            "organization_id": self.attempt.organization_id,
        }
        index_session(request.session.session_key, **identity)
        signed_in.send(
            sender=type(self), request=request, session_key=request.session.session_key, **identity
        )
        return response

    def login_failure(self) -> HttpResponse:
        attempt = self.attempt
        if attempt and attempt.silent and self.request.GET.get("error"):
            try:
                slug = get_policy(attempt.organization_id).slug
            except LogoutPolicy.DoesNotExist:
                return failure_page(
                    self.request, _("Your session has ended. Please sign in again."), status=401
                )
            return HttpResponseRedirect(login_url(slug, attempt.next_url))
        # Never the provider's error_description: anyone can put words in it (it is logged).
        return failure_page(self.request, FAILED_SIGN_IN, status=403)


class LogoutView(View):
    """``GET``: a confirmation page (a link must never log anyone out). ``POST`` (with CSRF):
    end the local session, then, per the organization's policy, the IdP's."""

    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(
            request, "logout_sso/logout_confirm.html", {"next": request.GET.get("next", "")}
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        requested = request.POST.get("next", "")
        signed_in = end_local_session(request, Initiator.USER)
        local_target = local_url(request, requested, default_after_logout_url(request))
        if signed_in is None:
            return HttpResponseRedirect(local_target)
        try:
            policy = get_policy(signed_in.organization_id)
        except LogoutPolicy.DoesNotExist:  # The organization was deleted: local logout only.
            return HttpResponseRedirect(local_target)
        target = allowlisted_after_logout_url(requested, policy)
        if policy.slo_mode == SLOMode.NONE:
            return HttpResponseRedirect(target or local_target)
        logout_request = LogoutRequest(
            id_token=signed_in.id_token,
            client_id=oidc.oidc_setting("OIDC_RP_CLIENT_ID"),
            post_logout_redirect_uri=target or default_after_logout_url(request),
            federated=policy.federated_logout,
        )
        try:
            return HttpResponseRedirect(logout_url(logout_request))
        except (ProviderError, LookupError) as exc:
            logger.warning(
                "Logged out locally; the IdP's logout URL is unknown: %s", printable(str(exc))
            )
            return render(request, "logout_sso/logout_incomplete.html", status=502)
