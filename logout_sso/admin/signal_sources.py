"""Admin of an organization's signal sources: its identity providers' Universal Logout and Shared
Signals transmitters, and the stream at each transmitter.

The management credential is written, never read back: the form's field is empty whatever is
stored, and the page says only whether one is set. Stream operations are actions, each
reporting per source what the transmitter did or answered.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from logout_sso.admin.scoping import OrganizationScopedAdmin
from logout_sso.inbound.internal import streams
from logout_sso.inbound.internal.endpoints import events_endpoint_url
from logout_sso.inbound.internal.transmitter import TransmitterError
from logout_sso.internal.validators import validate_secure_url
from logout_sso.models import SignalSource
from logout_sso.models.signal_sources import (
    ACCOUNT_DISABLED,
    ACCOUNT_PURGED,
    CREDENTIAL_CHANGE,
    SESSION_REVOKED,
    SignalKind,
)

EVENT_CHOICES = [
    (SESSION_REVOKED, _("Session revoked (CAEP)")),
    (CREDENTIAL_CHANGE, _("Credential change (CAEP)")),
    (ACCOUNT_DISABLED, _("Account disabled (RISC)")),
    (ACCOUNT_PURGED, _("Account purged (RISC)")),
]


class SignalSourceForm(forms.ModelForm):  # type: ignore[type-arg]
    """The source, with its management credential write-only."""

    management_token = forms.CharField(
        label=_("management credential"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_(
            "Shared Signals: the bearer token of the transmitter's stream management API. "
            "Leave empty to keep the current one."
        ),
    )
    clear_management_token = forms.BooleanField(
        label=_("forget the management credential"), required=False
    )
    events_requested = forms.MultipleChoiceField(
        label=_("events requested"),
        choices=EVENT_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Shared Signals: the event types this project asks the transmitter for."),
    )

    class Meta:
        model = SignalSource
        fields = [
            "organization",
            "name",
            "kind",
            "enabled",
            "issuer",
            "jwks_uri",
            "audience",
            "configuration_url",
            "delivery_method",
            "events_requested",
            "credential_change_logs_out",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if cleaned.get("kind") != SignalKind.SHARED_SIGNALS:
            return cleaned
        if not cleaned.get("configuration_url") and cleaned.get("issuer"):
            try:
                validate_secure_url(cleaned["issuer"])
            except ValidationError as exc:
                self.add_error("issuer", exc)
        if not cleaned.get("events_requested"):
            self.add_error(
                "events_requested", gettext("Ask the transmitter for one event type at least.")
            )
        return cleaned

    def save(self, commit: bool = True) -> SignalSource:
        source: SignalSource = super().save(commit=False)
        if self.cleaned_data.get("clear_management_token"):
            source.set_management_token("")
        elif self.cleaned_data.get("management_token"):
            source.set_management_token(self.cleaned_data["management_token"])
        if commit:
            source.save()
        return source


@admin.register(SignalSource)
class SignalSourceAdmin(OrganizationScopedAdmin):
    organization_path = "organization"
    form = SignalSourceForm
    list_display = [
        "name",
        "organization",
        "kind",
        "issuer",
        "enabled",
        "stream_status",
        "stream_verified_at",
    ]
    list_filter = ["kind", "enabled", ("organization", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["organization"]
    search_fields = ["name", "issuer"]
    readonly_fields = [
        "management_credential",
        "stream_id",
        "stream_status",
        "stream_endpoint_url",
        "stream_checked_at",
        "stream_verified_at",
        "stream_error",
        "created_at",
    ]
    fieldsets = [
        (None, {"fields": ["organization", "name", "kind", "enabled"]}),
        (_("Identity provider"), {"fields": ["issuer", "jwks_uri", "audience"]}),
        (
            _("Shared Signals transmitter"),
            {
                "fields": [
                    "configuration_url",
                    "management_credential",
                    "management_token",
                    "clear_management_token",
                    "delivery_method",
                    "events_requested",
                    "credential_change_logs_out",
                ]
            },
        ),
        (
            _("Stream"),
            {
                "fields": [
                    "stream_id",
                    "stream_status",
                    "stream_endpoint_url",
                    "stream_checked_at",
                    "stream_verified_at",
                    "stream_error",
                    "created_at",
                ]
            },
        ),
    ]
    actions = [
        "fetch_configuration",
        "save_stream",
        "check_status",
        "request_verification",
        "delete_stream",
    ]

    def get_readonly_fields(
        self, request: HttpRequest, obj: SignalSource | None = None
    ) -> list[str] | tuple[Any, ...]:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:  # Its endpoint, stream and events are its organization's.
            readonly.insert(0, "organization")
        return readonly

    @admin.display(description=_("management credential"))
    def management_credential(self, source: SignalSource) -> str:
        if source.has_management_token:
            return pgettext("management credential", "set")
        return pgettext("management credential", "not set")

    def _run(self, request: HttpRequest, queryset: QuerySet[SignalSource], operation: str) -> None:
        """Run ``operation`` on each source, saying per source what it did or why it failed."""
        for source in queryset.select_related("organization"):
            events_url = events_endpoint_url(source.organization, request)
            try:
                report = streams.OPERATIONS[operation](source, events_url)
            except TransmitterError as exc:
                self._say(request, source, str(exc), messages.ERROR)
                continue
            self._say(request, source, report.message, messages.SUCCESS)
            for warning in report.warnings:
                self._say(request, source, warning, messages.WARNING)

    def _say(self, request: HttpRequest, source: SignalSource, text: str, level: int) -> None:
        said = gettext("%(source)s: %(text)s") % {"source": source, "text": text}
        self.message_user(request, said, level=level)

    @admin.action(description=_("Fetch the transmitter's configuration"), permissions=["change"])
    def fetch_configuration(self, request: HttpRequest, queryset: QuerySet[SignalSource]) -> None:
        self._run(request, queryset, "configuration")

    @admin.action(description=_("Create or update the stream"), permissions=["change"])
    def save_stream(self, request: HttpRequest, queryset: QuerySet[SignalSource]) -> None:
        self._run(request, queryset, "stream")

    @admin.action(description=_("Check the stream's status"), permissions=["change"])
    def check_status(self, request: HttpRequest, queryset: QuerySet[SignalSource]) -> None:
        self._run(request, queryset, "status")

    @admin.action(description=_("Request a verification event"), permissions=["change"])
    def request_verification(self, request: HttpRequest, queryset: QuerySet[SignalSource]) -> None:
        self._run(request, queryset, "verify")

    @admin.action(description=_("Delete the stream at the transmitter"), permissions=["change"])
    def delete_stream(self, request: HttpRequest, queryset: QuerySet[SignalSource]) -> None:
        self._run(request, queryset, "delete")
