"""Logout events and their deliveries to applications (the hub's transactional outbox).

A :class:`Delivery` row is written in the same transaction as its :class:`LogoutEvent`, before any
message is queued: the database is the truth, a Celery message only says "go".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from django.conf import settings
from django.db import connections, models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from logout_sso.models.applications import Application
from logout_sso.models.organizations import Organization


class Initiator(models.TextChoices):
    """Who or what started a logout (``LogoutEvent.initiator``)."""

    USER = "user", _("User (RP-initiated logout)")
    ADMIN = "admin", _("Admin")
    IDP_BACKCHANNEL = "idp_backchannel", _("IdP back-channel logout")
    API = "api", _("Application (session API)")
    SILENT_RECHECK = "silent_recheck", _("Silent re-check failed at the IdP")
    UNIVERSAL_LOGOUT = "universal_logout", _("IdP-initiated: Universal Logout")
    SHARED_SIGNALS = "shared_signals", _("IdP-initiated: Shared Signals event")


class Outcome(models.TextChoices):
    """How a logout ended, once every delivery is done (``LogoutEvent.outcome``)."""

    PENDING = "pending", _("Pending")
    COMPLETED = "completed", _("Completed")
    PARTIAL = "partial", _("Partially failed")
    FAILED = "failed", _("Failed")


class LogoutEvent(models.Model):
    """One logout: who or what started it, for whom, and how it ended."""

    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="logout_events",
        verbose_name=_("organization"),
        null=True,
        blank=True,
        help_text=_("The organization of the user logged out, when known."),
    )
    initiator = models.CharField(
        _("initiated by"),
        max_length=32,
        choices=Initiator.choices,
        db_index=True,
        help_text=_("What started the logout."),
    )
    initiated_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("initiating user"),
        help_text=_("The user or admin who logged out, when a person did."),
    )
    initiated_by_application = models.ForeignKey(
        Application,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("initiating application"),
        help_text=_("The application that reported the logout through the session API."),
    )
    issuer = models.CharField(
        _("issuer"),
        max_length=500,
        blank=True,
        help_text=_("The OpenID provider whose subject or session this is."),
    )
    sub = models.CharField(
        _("subject"),
        max_length=255,
        blank=True,
        help_text=_("The user logged out (sub claim); empty when only a sid is known."),
    )
    sid = models.CharField(
        _("session id at the IdP"),
        max_length=255,
        blank=True,
        help_text=_("The IdP session logged out (sid claim); empty for every session of sub."),
    )
    token_id = models.CharField(
        _("logout token id"),
        max_length=64,
        blank=True,
        editable=False,
        help_text=_(
            "For a logout by a back-channel logout token: a digest of its issuer and jti. "
            "Unique, so a replayed token is refused; written with the logout's effect, so a "
            "token whose effect did not happen can be sent again."
        ),
    )
    job = models.ForeignKey(
        "logout_sso.OrganizationLogoutJob",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="events",
        verbose_name=_("organization-wide logout"),
        help_text=_("The organization-wide logout this event is part of, if any."),
    )
    sessions_ended = models.PositiveIntegerField(
        _("local sessions ended"),
        default=0,
        help_text=_("Sessions ended directly in this project's session store."),
    )
    outcome = models.CharField(
        _("outcome"),
        max_length=16,
        choices=Outcome.choices,
        default=Outcome.PENDING,
        help_text=_("Pending until every delivery is delivered or has failed for good."),
    )
    created_at = models.DateTimeField(
        _("created at"), auto_now_add=True, db_index=True, help_text=_("When the logout began.")
    )
    completed_at = models.DateTimeField(
        _("completed at"),
        null=True,
        blank=True,
        help_text=_("When the last delivery was delivered or failed for good."),
    )

    class Meta:
        verbose_name = _("logout event")
        verbose_name_plural = _("logout events")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(sub="", sid=""),
                name="logout_sso_event_has_subject",
                violation_error_message=_("A logout event needs a subject (sub) or a sid."),
            ),
            models.UniqueConstraint(
                fields=["token_id"],
                condition=~Q(token_id=""),
                name="logout_sso_event_token_once",
                violation_error_message=_("This logout token was already used."),
            ),
        ]
        indexes = [
            # The purge reads finished events oldest first (logout_sso.internal.retention).
            models.Index(
                fields=["completed_at"],
                condition=Q(completed_at__isnull=False),
                name="logout_sso_event_completed",
            ),
            # The recent logouts of an IdP session, or of a user: the organization of a
            # back-channel logout that ended no session (receiver.internal.logouts).
            models.Index(fields=["sid", "issuer", "created_at"], name="logout_sso_event_sid"),
            models.Index(fields=["sub", "issuer", "created_at"], name="logout_sso_event_sub"),
            # An organization's recent logouts (the admin's health page, its event list).
            models.Index(fields=["organization", "created_at"], name="logout_sso_event_org_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_initiator_display()}: {self.sub or self.sid}"


def _aware(moment: datetime) -> datetime:
    """A time read by raw SQL: SQLite gives it without its time zone (UTC when ``USE_TZ``)."""
    if settings.USE_TZ and timezone.is_naive(moment):
        return timezone.make_aware(moment, UTC)
    return moment


class DeliveryState(models.TextChoices):
    """Where one delivery stands (``Delivery.state``)."""

    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class Claimed(Protocol):
    """A delivery as a sender holds it: its primary key and the claim it was sent under."""

    @property
    def pk(self) -> Any: ...

    @property
    def claim(self) -> str: ...


class DeliveryQuerySet(models.QuerySet["Delivery"]):
    """Statements the hub runs on many deliveries at once, on its critical path: raw, but built
    from the model's metadata (identifiers quoted, every value a parameter)."""

    @staticmethod
    def _field(name: str) -> models.Field[Any, Any]:
        """A concrete field, by name or attribute name (``event`` or ``event_id``)."""
        return next(f for f in Delivery._meta.concrete_fields if name in (f.name, f.attname))

    def _column(self, field: models.Field[Any, Any]) -> str:
        return connections[self.db].ops.quote_name(field.column or field.name)

    def insert_each(self, rows: Sequence[dict[str, Any]], **shared: Any) -> None:
        """Insert one row per ``{field: value}`` of ``rows`` (each with the same fields), plus
        the ``shared`` values in every row; nothing comes back (no primary keys). Each value
        prepared once, shared ones once for all rows: about three times faster than
        ``bulk_create`` for a fan-out, which builds a model instance and prepares every value
        of every row. On PostgreSQL one ``INSERT ... SELECT`` from an array per column, a
        statement of a few parameters whatever the rows (psycopg parses a statement of
        hundreds of placeholders again on every call: 3 ms for the 900 of a fan-out to 100
        applications, on the logout API's critical path); elsewhere multi-row ``INSERT``
        statements (a few on SQLite, whose statements take fewer parameters). Give every
        column without a null or database default, ``created_at`` too."""
        if not rows:
            return
        connection = connections[self.db]
        own = [self._field(name) for name in rows[0]]
        shared_fields = [self._field(name) for name in shared]
        shared_values = [
            field.get_db_prep_save(value, connection)
            for field, value in zip(shared_fields, shared.values(), strict=True)
        ]
        by_row = [
            [
                field.get_db_prep_save(value, connection)
                for field, value in zip(own, row.values(), strict=True)
            ]
            for row in rows
        ]
        fields = own + shared_fields
        columns = ", ".join(self._column(field) for field in fields)
        table = connection.ops.quote_name(Delivery._meta.db_table)
        insert = f"INSERT INTO {table} ({columns})"
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                typed = [f"%s::{field.db_type(connection)}" for field in fields]
                arrays = ", ".join(f"{placeholder}[]" for placeholder in typed[: len(own)])
                selected = ", ".join(["*", *typed[len(own) :]])
                sql = f"{insert} SELECT {selected} FROM unnest({arrays})"  # noqa: S608
                by_column = [list(column) for column in zip(*by_row, strict=True)]
                cursor.execute(sql, [*shared_values, *by_column])  # In the statement's order.
                return
            placeholders = f"({', '.join(['%s'] * len(fields))})"
            batch_size = connection.ops.bulk_batch_size(fields, rows)
            for start in range(0, len(rows), batch_size):
                batch = by_row[start : start + batch_size]
                values = ", ".join([placeholders] * len(batch))
                parameters = [value for row in batch for value in [*row, *shared_values]]
                cursor.execute(f"{insert} VALUES {values}", parameters)

    def pending_by_application(self) -> list[tuple[int, int, datetime]]:
        """(application id, pending deliveries, when the oldest was recorded) of each
        application with some pending, reading the pending rows only, in the order of the
        indexes of pending deliveries by next attempt, however many others there are. Written
        as the ORM would (one ``GROUP BY``), SQLite walks every row along the application's
        index instead: 0.6 s at 1,000,000 deliveries, against 3 ms."""
        connection = connections[self.db]
        table = connection.ops.quote_name(Delivery._meta.db_table)
        application, created, state, next_attempt = (
            self._column(self._field(name))
            for name in ("application", "created_at", "state", "next_attempt_at")
        )
        sql = (
            f"SELECT {application}, COUNT(*), MIN({created}) FROM (SELECT {application}, "  # noqa: S608
            f"{created} FROM {table} WHERE {state} = %s ORDER BY {next_attempt}) pending "
            f"GROUP BY {application}"
        )
        created_field = self._field("created_at")
        with connection.cursor() as cursor:
            cursor.execute(sql, [DeliveryState.PENDING.value])
            rows = cursor.fetchall()
        return [
            (application_id, count, _aware(created_field.to_python(first)))
            for application_id, count, first in rows
        ]

    def update_each_if_claimed(self, changes: Iterable[tuple[Claimed, dict[str, Any]]]) -> None:
        """Apply each ``(delivery, {field: value})`` to its row, unless another sender has
        claimed the row since. One statement executed for every row with the same fields
        (``executemany``): several times faster than an ``UPDATE`` each through the ORM, or
        one ``bulk_update`` with a ``CASE`` per field."""
        connection = connections[self.db]
        table = connection.ops.quote_name(Delivery._meta.db_table)
        where = (
            f"{self._column(self._field('id'))} = %s AND {self._column(self._field('claim'))} = %s"
        )
        groups: dict[tuple[str, ...], list[tuple[Claimed, dict[str, Any]]]] = {}
        for delivery, values in changes:
            groups.setdefault(tuple(sorted(values)), []).append((delivery, values))
        for names, group in groups.items():
            fields = [self._field(name) for name in names]
            assignments = ", ".join(f"{self._column(field)} = %s" for field in fields)
            sql = f"UPDATE {table} SET {assignments} WHERE {where}"  # noqa: S608
            parameters = [
                [field.get_db_prep_save(values[field.name], connection) for field in fields]
                + [delivery.pk, delivery.claim]
                for delivery, values in group
            ]
            with connection.cursor() as cursor:
                cursor.executemany(sql, parameters)


class Delivery(models.Model):
    """The back-channel logout of one event to one application."""

    event = models.ForeignKey(
        LogoutEvent,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("logout event"),
        help_text=_("The logout being delivered."),
    )
    application = models.ForeignKey(
        Application,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("application"),
        help_text=_("The application the logout token is sent to."),
    )
    sid = models.CharField(
        _("session id at the IdP"),
        max_length=255,
        blank=True,
        help_text=_(
            "The session the logout token names, when the application requires a sid and the "
            "logout names only a subject (one token per session); empty: the event's sid."
        ),
    )
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=DeliveryState.choices,
        default=DeliveryState.PENDING,
        help_text=_("Pending until the application accepted the token or retries ran out."),
    )
    attempts = models.PositiveSmallIntegerField(
        _("attempts"), default=0, help_text=_("How many times the token was sent.")
    )
    next_attempt_at = models.DateTimeField(
        _("next attempt at"),
        null=True,
        blank=True,
        help_text=_("When a pending delivery is due; the sweeper re-queues overdue ones."),
    )
    last_status = models.PositiveSmallIntegerField(
        _("last HTTP status"),
        null=True,
        blank=True,
        help_text=_("The application's HTTP status on the last attempt."),
    )
    last_error = models.TextField(
        _("last error"),
        blank=True,
        help_text=_("What went wrong on the last attempt (timeout, refused, response body)."),
    )
    latency_ms = models.PositiveIntegerField(
        _("latency (ms)"),
        null=True,
        blank=True,
        help_text=_("From the event to the application's successful response."),
    )
    claim = models.CharField(
        _("claim"),
        max_length=32,
        blank=True,
        editable=False,
        help_text=_("Which sender holds this delivery now; a lease that next attempt ends."),
    )
    created_at = models.DateTimeField(
        _("created at"), auto_now_add=True, help_text=_("When the delivery was recorded.")
    )
    delivered_at = models.DateTimeField(
        _("delivered at"),
        null=True,
        blank=True,
        help_text=_("When the application accepted the logout token."),
    )

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        # No default ordering: a join to Application and a sort on every hub query would pay
        # for it. Who shows deliveries orders them (the admin inline, the session API).
        constraints = [
            models.UniqueConstraint(
                fields=["event", "application", "sid"],
                name="logout_sso_delivery_once_per_session",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="pending"),
                name="logout_sso_delivery_due",
            ),
            models.Index(fields=["state", "next_attempt_at"], name="logout_sso_delivery_state"),
            # A sender reads back what it claimed; few rows are claimed at any time.
            models.Index(fields=["claim"], condition=~Q(claim=""), name="logout_sso_delivery_held"),
        ]

    def __str__(self) -> str:
        """A sentence, as the admin shows a delivery: "To Billing: delivered after 1 attempt."
        (reads the application: select it with the delivery)."""
        values = {
            "application": self.application.name,
            "state": self.get_state_display().lower(),
            "count": self.attempts,
        }
        if not self.attempts:
            return str(_("To %(application)s: %(state)s, not tried yet.") % values)
        return (
            ngettext(
                "To %(application)s: %(state)s after %(count)d attempt.",
                "To %(application)s: %(state)s after %(count)d attempts.",
                self.attempts,
            )
            % values
        )

    @property
    def token_sid(self) -> str:
        """The sid its logout token names (none: the token names the subject only)."""
        return self.sid or self.event.sid
