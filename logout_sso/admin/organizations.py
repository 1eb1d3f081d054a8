"""Admin of organizations, with their logout policy and email domains inline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.messages.storage.base import Message
from django.db.models import Count, Model, QuerySet
from django.db.models.fields.related import ManyToManyField
from django.forms import BaseModelFormSet, ModelForm, ModelMultipleChoiceField
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from logout_sso import api
from logout_sso.admin import mirroring
from logout_sso.admin.scoping import OrganizationScopedAdmin, acting_user
from logout_sso.admin.users import readable_name
from logout_sso.models import EmailDomain, LogoutPolicy, Organization, TrackedSession

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec

#: What binds an organization to its identity provider: superusers' to change.
IDENTITY_FIELDS = ("slug", "idp_organization_id", "connection")

#: The auto-forward trap, as the admin says it (system check logout_sso.W001 says it in English).
TRAP = _(
    "Organization '%(organization)s' auto-forwards users to its enterprise connection and uses "
    "short-lived tokens without federated logout: it gets no Single Logout, because the silent "
    "re-check succeeds at the organization's own IdP, which never hears of the logout."
)
TRAP_FIX = _(
    "Turn federated logout on, switch the Single Logout mode to the logout service, or stop "
    "auto-forwarding."
)


class LogoutPolicyInline(admin.StackedInline):  # type: ignore[type-arg]
    """The policy; for an organization mirrored from the hub, only the delivery retry settings
    are this project's to change."""

    model = LogoutPolicy
    can_delete = False
    min_num = 1
    max_num = 1
    fieldsets = [
        (None, {"fields": ["slo_mode", "session_ttl", "federated_logout"]}),
        (_("Redirects after logout"), {"fields": ["post_logout_redirect_uris"]}),
        (
            _("Back-channel delivery retries"),
            {
                "fields": [
                    "delivery_max_attempts",
                    "delivery_backoff_seconds",
                    "delivery_backoff_max_seconds",
                ],
                "classes": ["collapse"],
            },
        ),
    ]

    def get_readonly_fields(
        self, request: HttpRequest, obj: Model | None = None
    ) -> list[str] | tuple[Any, ...]:
        readonly = super().get_readonly_fields(request, obj)
        if mirroring.is_mirrored(obj):
            return [*readonly, *mirroring.MIRRORED_POLICY_FIELDS]
        return readonly


class EmailDomainInline(admin.TabularInline):  # type: ignore[type-arg]
    """Email domains route logins to an organization: only superusers change them (a tenant
    claiming another's domain would receive its users' logins), and nobody here those of an
    organization mirrored from the hub."""

    model = EmailDomain
    extra = 0

    def _may_edit(self, request: HttpRequest, obj: Model | None) -> bool:
        return request.user.is_superuser and not mirroring.is_mirrored(obj)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._may_edit(request, obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._may_edit(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._may_edit(request, obj) and super().has_delete_permission(request, obj)


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin):
    organization_path = ""
    inlines = [LogoutPolicyInline, EmailDomainInline]
    list_display = [
        "name",
        "slug",
        "idp_organization_id",
        "slo_mode",
        "session_ttl",
        "federated_logout",
        "single_logout_works",
    ]
    list_select_related = ["logout_policy"]
    list_filter = ["logout_policy__slo_mode", "logout_policy__federated_logout", "auto_forward"]
    search_fields = ["name", "slug", "idp_organization_id", "email_domains__domain"]
    actions = ["log_out_everyone"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["admins"]
    fieldsets = [
        (None, {"fields": ["name", "slug"]}),
        (
            _("Identity provider"),
            {"fields": ["idp_organization_id", "connection", "auto_forward"]},
        ),
        (_("Access"), {"fields": ["admins"]}),
    ]

    @admin.display(description=_("SLO mode"), ordering="logout_policy__slo_mode")
    def slo_mode(self, organization: Organization) -> str:
        return organization.logout_policy.get_slo_mode_display()

    @admin.display(description=_("TTL (s)"), ordering="logout_policy__session_ttl")
    def session_ttl(self, organization: Organization) -> int:
        return organization.logout_policy.session_ttl

    @admin.display(description=_("federated"), boolean=True)
    def federated_logout(self, organization: Organization) -> bool:
        return organization.logout_policy.federated_logout

    @admin.display(description=_("Single Logout"))
    def single_logout_works(self, organization: Organization) -> str:
        """A warning badge for the auto-forward trap, unlike a deliberate "federated: off"."""
        if not organization.logout_policy.defeats_single_logout:
            return "-"
        return format_html(
            '<strong class="logout-sso-trap" title="{}">\u26a0 {}</strong>',
            TRAP_FIX,
            _("auto-forward trap"),
        )

    @admin.display(description=_("managed at the hub"))
    def managed_at_hub(self, organization: Organization) -> str:
        return mirroring.managed_at_hub(organization)

    def get_readonly_fields(
        self, request: HttpRequest, obj: Organization | None = None
    ) -> list[str] | tuple[Any, ...]:
        if request.user.is_superuser:
            readonly = list(super().get_readonly_fields(request, obj))
        else:
            # Only superusers grant access (a staff user choosing among all users would see
            # them all) and bind an organization to its identity provider: a tenant's admin who
            # set another's IdP organization id, slug or connection would re-route its logins.
            readonly = [*IDENTITY_FIELDS, "admins"]
        if mirroring.is_mirrored(obj):  # Whoever asks: the hub decides these.
            readonly += [*mirroring.MIRRORED_FIELDS, "managed_at_hub"]
        return list(dict.fromkeys(readonly))

    def get_fieldsets(self, request: HttpRequest, obj: Organization | None = None) -> _FieldsetSpec:
        fieldsets = super().get_fieldsets(request, obj)
        if mirroring.is_mirrored(obj):
            return [(None, {"fields": ["managed_at_hub"]}), *fieldsets]
        return fieldsets

    def get_prepopulated_fields(
        self, request: HttpRequest, obj: Organization | None = None
    ) -> dict[str, Sequence[str]]:
        if request.user.is_superuser and not mirroring.is_mirrored(obj):
            return super().get_prepopulated_fields(request, obj)
        return {}  # The slug is read-only.

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        mirroring.warn_if_stale(request)
        return super().changelist_view(request, extra_context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        mirroring.warn_if_stale(request)
        if request.method == "GET":  # After a save, save_related says it.
            organization = self.get_object(request, object_id)  # In scope: 404 otherwise.
            if organization is not None:
                self._warn_of_the_trap(request, organization.logout_policy)
        return super().change_view(request, object_id, form_url, extra_context)

    def formfield_for_manytomany(
        self, db_field: ManyToManyField[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelMultipleChoiceField[Any] | None:
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and db_field.name == "admins":
            field.label_from_instance = readable_name  # type: ignore[method-assign, assignment]
        return field

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        return super().get_queryset(request).select_related("logout_policy")

    def save_related(
        self,
        request: HttpRequest,
        form: ModelForm,  # type: ignore[type-arg]
        formsets: list[BaseModelFormSet],  # type: ignore[type-arg]
        change: bool,
    ) -> None:
        super().save_related(request, form, formsets, change)
        organization: Organization = form.instance
        if not change and not request.user.is_superuser:
            organization.admins.add(request.user)  # type: ignore[arg-type]
        policy = LogoutPolicy.objects.select_related("organization").get(pk=organization.pk)
        self._warn_of_the_trap(request, policy)

    def _warn_of_the_trap(self, request: HttpRequest, policy: LogoutPolicy | None) -> None:
        """Say so, when the policy is in the auto-forward trap: once per page, also when
        "Save and continue editing" reopens the page right after saving it."""
        if policy is None or not policy.defeats_single_logout:
            return
        text = f"{TRAP % {'organization': policy.organization.slug}} {TRAP_FIX}"
        if Message(messages.WARNING, text) in messages.get_messages(request):
            return  # Said by the save that led here.
        self.message_user(request, text, level=messages.WARNING)

    @admin.action(
        description=_("Log out every user of these organizations"), permissions=["change"]
    )
    def log_out_everyone(
        self, request: HttpRequest, queryset: QuerySet[Organization]
    ) -> HttpResponse | None:
        """After a confirmation page that says how many sessions and applications it ends,
        starts a background job per organization and shows its progress."""
        if request.POST.get("confirm") != "yes":
            return self._confirm_log_out(request, queryset)
        started = [
            api.log_out_organization(organization, by_user=acting_user(request))
            for organization in queryset
        ]
        self.message_user(
            request,
            ngettext(
                "Logging out every user of %(count)d organization, in the background.",
                "Logging out every user of %(count)d organizations, in the background.",
                len(started),
            )
            % {"count": len(started)},
        )
        if len(started) == 1:
            return redirect("admin:logout_sso_organizationlogoutjob_change", started[0].pk)
        return redirect("admin:logout_sso_organizationlogoutjob_changelist")

    def _confirm_log_out(
        self, request: HttpRequest, queryset: QuerySet[Organization]
    ) -> TemplateResponse:
        live = TrackedSession.objects.live().filter(organization__in=queryset)
        summary = queryset.annotate(
            sessions_here=Count("local_sessions", distinct=True),
        ).order_by("name")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Log out every user?"),
            "opts": self.opts,
            "organizations": summary,
            "tracked_sessions": live.count(),
            "users": live.values("issuer", "sub").distinct().count(),
            "applications": live.values("application").distinct().count(),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        }
        return TemplateResponse(request, "logout_sso/admin/log_out_organization.html", context)
