"""``manage.py logout_sso_send_due``: the sweeper, by hand or from cron."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from logout_sso.api import send_due_deliveries
from logout_sso.models import Delivery
from logout_sso.models.events import DeliveryState


class Command(BaseCommand):
    help = (
        "Send every back-channel logout whose time has come, whatever happened to its Celery "
        "message (what the logout_sso.send_due_deliveries task does on a schedule)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        delivered = send_due_deliveries()
        pending = Delivery.objects.filter(state=DeliveryState.PENDING).count()
        self.stdout.write(f"{delivered} delivered now; {pending} still pending.")
