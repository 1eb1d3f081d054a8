"""Admin of applications: registration, API credentials (shown once), enabling."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from logout_sso.admin.scoping import OrganizationScopedAdmin, administered_organizations
from logout_sso.models import Application

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec

ISSUED_CREDENTIALS = "_logout_sso_issued_credentials"
SHOWN_ORGANIZATIONS = "_logout_sso_shown_organizations"


@admin.register(Application)
class ApplicationAdmin(OrganizationScopedAdmin):
    organization_path = "organizations"
    list_display = ["name", "client_id", "backchannel_logout_uri", "enabled", "credential_id"]
    list_filter = ["enabled", ("organizations", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "client_id", "credential_id"]
    filter_horizontal = ["organizations"]
    readonly_fields = ["credential_id", "credential_rotated_at", "created_at", "shared_with"]
    fieldsets = [
        (None, {"fields": ["name", "client_id", "organizations", "enabled"]}),
        (
            _("Back-channel logout"),
            {
                "fields": [
                    "backchannel_logout_uri",
                    "backchannel_logout_session_required",
                    "shares_session_store",
                ]
            },
        ),
        (_("API credential"), {"fields": ["credential_id", "credential_rotated_at", "created_at"]}),
    ]
    actions = ["rotate_credentials"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: Application | None = None
    ) -> list[str] | tuple[Any, ...]:
        readonly = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return readonly
        # Ended directly in this project's session store, an application's logouts skip the
        # back-channel: the operator's decision, not a tenant's.
        return [*readonly, "shares_session_store"]

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Application | None:
        application: Application | None = super().get_object(request, object_id, from_field)
        if application is not None:
            setattr(
                application,
                SHOWN_ORGANIZATIONS,
                application.organizations.filter(pk__in=administered_organizations(request)),
            )
        return application

    def get_fieldsets(self, request: HttpRequest, obj: Application | None = None) -> _FieldsetSpec:
        """Someone who may not change a shared application sees only their own organizations
        among those it serves: the others are other customers' names."""
        fieldsets = super().get_fieldsets(request, obj)
        if self._manages_all(request, obj):
            return fieldsets
        return [
            (
                name,
                {
                    **options,
                    "fields": [
                        "shared_with" if field == "organizations" else field
                        for field in options["fields"]
                    ],
                },
            )
            for name, options in fieldsets
        ]

    @admin.display(description=_("organizations"))
    def shared_with(self, application: Application) -> str:
        shown = list(getattr(application, SHOWN_ORGANIZATIONS))
        others = application.organizations.count() - len(shown)
        names = ", ".join(str(organization) for organization in shown)
        if not others:
            return names
        return ngettext(
            "%(names)s and %(count)d other organization",
            "%(names)s and %(count)d other organizations",
            others,
        ) % {"names": names, "count": others}

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._manages_all(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._manages_all(request, obj)

    def _manages_all(self, request: HttpRequest, obj: Model | None) -> bool:
        """An application shared with organizations the user does not manage is theirs to
        view, not to change."""
        if obj is None or request.user.is_superuser:
            return True
        assert isinstance(obj, Application)
        return not obj.organizations.exclude(pk__in=administered_organizations(request)).exists()

    def save_model(
        self,
        request: HttpRequest,
        obj: Application,
        form: ModelForm,  # type: ignore[type-arg]
        change: bool,
    ) -> None:
        if not change:
            setattr(request, ISSUED_CREDENTIALS, [(obj, obj.rotate_credential())])
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: Application, post_url_continue: str | None = None
    ) -> HttpResponse:
        return self._show_credentials(request, getattr(request, ISSUED_CREDENTIALS))

    @admin.action(
        description=_("Issue a new API credential (the old one stops working)"),
        permissions=["change"],
    )
    def rotate_credentials(
        self, request: HttpRequest, queryset: QuerySet[Application]
    ) -> HttpResponse | None:
        managed = [
            application for application in queryset if self._manages_all(request, application)
        ]
        skipped = len(queryset) - len(managed)
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d application is shared with organizations you do not manage; "
                    "its credential was not changed.",
                    "%(count)d applications are shared with organizations you do not manage; "
                    "their credentials were not changed.",
                    skipped,
                )
                % {"count": skipped},
                level=messages.WARNING,
            )
        if not managed:
            return None
        return self._show_credentials(
            request, [(application, application.rotate_credential()) for application in managed]
        )

    def _show_credentials(
        self, request: HttpRequest, issued: list[tuple[Application, str]]
    ) -> HttpResponse:
        """The only page that ever shows the credentials in clear (never stored, never sent
        through the messages framework, whose cookie storage is readable)."""
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": _("API credentials"),
            "opts": self.opts,
            "issued": issued,
        }
        response = TemplateResponse(request, "logout_sso/admin/credentials.html", context)
        response["Cache-Control"] = "no-store"
        return response
