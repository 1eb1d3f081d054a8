"""How a fan-out writes its deliveries: every row as it should be, with one statement; on
PostgreSQL a statement of as many parameters whatever the number of applications (an array per
column), since psycopg parses a statement of hundreds of placeholders again on every call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from logout_sso.hub.internal.outbox import record_logout
from logout_sso.models import Delivery, Organization
from logout_sso.models.events import DeliveryState, Initiator
from tests.hub_receivers import IDP_ISSUER, register_application, track_session


def log_out_of(applications: int, acme: Organization, sub: str) -> list[tuple[str, list[Any]]]:
    """``sub`` signed in to that many new applications of acme logs out (the "go" messages
    held back); the statements that inserted deliveries, with their parameters."""
    for number in range(applications):
        application, _ = register_application(f"{sub}-app-{number}", acme, uri="https://a.test/bcl")
        track_session(application, acme, sub, sid=f"{sub}-sid-{number}")
    inserts: list[tuple[str, list[Any]]] = []

    def spy(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith(f"INSERT INTO {connection.ops.quote_name(Delivery._meta.db_table)}"):
            inserts.append((sql, list(params)))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        record_logout(initiator=Initiator.ADMIN, issuer=IDP_ISSUER, sub=sub, organization=acme)
    return inserts


@pytest.mark.django_db
def test_every_delivery_is_written_claimed_and_pending_with_one_statement(
    hub_settings: Any, queued: list[int]
) -> None:
    acme = Organization.objects.create(slug="acme", name="Acme")

    [(_, _)] = log_out_of(30, acme, "user-1")

    rows = Delivery.objects.filter(event__sub="user-1")
    assert rows.count() == 30
    assert set(rows.values_list("state", "attempts", "sid", "last_error")) == {
        (DeliveryState.PENDING, 0, "", "")
    }
    assert set(rows.values_list("application__organizations", flat=True)) == {acme.pk}
    assert "" not in set(rows.values_list("claim", flat=True))
    assert rows.filter(next_attempt_at__isnull=True).count() == 0


@pytest.mark.django_db
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's statement: an array per column"
)
def test_postgresql_statement_does_not_grow_with_the_applications(
    hub_settings: Any, queued: list[int]
) -> None:
    acme = Organization.objects.create(slug="acme", name="Acme")

    [(few_sql, few_params)] = log_out_of(3, acme, "user-1")
    [(many_sql, many_params)] = log_out_of(100, acme, "user-2")

    assert few_sql == many_sql
    assert len(few_params) == len(many_params) < 10
