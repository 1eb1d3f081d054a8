"""Multitenant scoping of the admin.

A superuser sees everything. Any other staff user sees and edits only the organizations whose
``admins`` include them, and only those organizations' objects: in change lists, on object
pages (anything else is a 404, so another tenant's ids are not even confirmed to exist), in
foreign-key choices and in list filters. What a staff user may *do* (view, change, ...) is still
Django's model permissions; scoping decides *where*.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Model, QuerySet
from django.db.models.fields.related import ForeignKey, ManyToManyField
from django.forms import ModelChoiceField, ModelMultipleChoiceField
from django.http import Http404, HttpRequest, HttpResponse

from logout_sso.models import Application, Organization


def acting_user(request: HttpRequest) -> AbstractBaseUser:
    """The staff user using the admin (who is never anonymous there)."""
    user = request.user
    assert isinstance(user, AbstractBaseUser)
    return user


def administered_organizations(request: HttpRequest) -> QuerySet[Organization]:
    return Organization.objects.administered_by(request.user)


def scoped_choices(request: HttpRequest, model: type[Model]) -> QuerySet[Any] | None:
    """The objects of ``model`` a staff user may pick in a form, or None if not scoped."""
    if model is Organization:
        return administered_organizations(request)
    if model is Application:
        return Application.objects.filter(
            organizations__in=administered_organizations(request)
        ).distinct()
    return None


class OrganizationScopedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A ModelAdmin whose objects belong to organizations.

    ``organization_path`` is the lookup from the model to its organization(s): ``""`` for
    :class:`Organization` itself, ``"organization"``, ``"organizations"``, ...
    """

    organization_path: ClassVar[str]

    def scope(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if request.user.is_superuser:
            return queryset
        organizations = administered_organizations(request)
        if not self.organization_path:
            return queryset.filter(pk__in=organizations)
        return queryset.filter(**{f"{self.organization_path}__in": organizations}).distinct()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return self.scope(request, super().get_queryset(request))

    def is_in_scope(self, request: HttpRequest, obj: Model | None) -> bool:
        if obj is None or request.user.is_superuser:
            return True
        return self.scope(request, type(obj)._default_manager.filter(pk=obj.pk)).exists()

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_view_permission(request, obj) and self.is_in_scope(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_change_permission(request, obj) and self.is_in_scope(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self.is_in_scope(request, obj)

    def _formfield_queryset(self, request: HttpRequest, model: type[Model], kwargs: Any) -> None:
        if not request.user.is_superuser:
            choices = scoped_choices(request, model)
            if choices is not None:
                kwargs["queryset"] = choices

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField[Any] | None:
        self._formfield_queryset(request, db_field.related_model, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(
        self, db_field: ManyToManyField[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelMultipleChoiceField[Any] | None:
        self._formfield_queryset(request, db_field.related_model, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
        """Sessions and events are never deleted by hand, but they go with the application or
        organization they belong to: their read-only admin must not block that deletion."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        records = {
            str(model._meta.verbose_name)
            for model, model_admin in self.admin_site._registry.items()
            if isinstance(model_admin, ReadOnlyAdminMixin)
        }
        return deleted, model_count, {p for p in perms_needed if str(p) not in records}, protected

    def _require_in_scope(self, request: HttpRequest, object_id: str) -> None:
        """Answer 404 for an object outside the user's organizations (Django's admin would
        redirect to the index with a message instead)."""
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404(f"No {self.opts.verbose_name} with id {object_id!r}.")

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        self._require_in_scope(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        self._require_in_scope(request, object_id)
        return super().delete_view(request, object_id, extra_context)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        self._require_in_scope(request, object_id)
        return super().history_view(request, object_id, extra_context)


class ReadOnlyAdminMixin:
    """For records written by the flows (sessions, events): viewable, never edited by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
