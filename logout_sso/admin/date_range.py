"""A date filter for the admin's lists: Django's presets (today, past 7 days, this month, this
year) and a range of days to pick, from and to (both included), in the admin's time zone."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.admin.filters import _ListFilterChoices


def _day(value: str) -> datetime.date | None:
    """The day a parameter names by itself ("2026-11-30"), else None (a preset's datetime)."""
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        return None


def _midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


class DateRangeFilter(admin.DateFieldListFilter):
    template = "logout_sso/admin/date_range_filter.html"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Days typed in the form are local days: from its midnight, until the midnight after
        the last day."""
        for name, after in ((self.lookup_kwarg_since, 0), (self.lookup_kwarg_until, 1)):
            values: list[Any] = self.used_parameters.get(name) or []  # type: ignore[assignment]
            self.used_parameters[name] = [
                str(_midnight(day + datetime.timedelta(days=after)))
                if isinstance(value, str) and (day := _day(value))
                else value
                for value in values
            ]
            if not self.used_parameters[name]:
                del self.used_parameters[name]
        filtered = super().queryset(request, queryset)
        assert filtered is not None
        return filtered

    def choices(self, changelist: ChangeList) -> Iterator[_ListFilterChoices]:
        """The presets; the form's fields and the other filters it keeps come from
        :meth:`range_form`."""
        self._changelist = changelist
        return super().choices(changelist)

    def range_form(self) -> dict[str, Any]:
        """What the template's form needs: the days typed, and the other parameters to keep."""
        params = self._changelist.params
        since, until = self.lookup_kwarg_since, self.lookup_kwarg_until

        def typed(name: str) -> str:
            value = params.get(name, "")
            return value if _day(value) else ""

        return {
            "since_name": since,
            "until_name": until,
            "since": typed(since),
            "until": typed(until),
            "kept": [(name, value) for name, value in params.items() if name not in (since, until)],
        }
