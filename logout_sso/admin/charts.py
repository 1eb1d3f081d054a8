"""Bar charts drawn on the server as SVG: readable without JavaScript and in a screenshot, with a
title, both axes, their units and a legend; each bar says its figures on hover (``<title>``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 640, 240
#: Room for the title and legend above, the tick labels left and the axis labels below.
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 48, 44


@dataclass(frozen=True)
class Series:
    """One stacked layer of bars: its name in the legend, its colour, a value per bar."""

    name: str
    color: str
    values: Sequence[int]


@dataclass(frozen=True)
class Rectangle:
    x: float
    y: float
    width: float
    height: float
    color: str
    tooltip: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 times a power of ten that is at least ``value`` (at least 1)."""
    if value <= 1:
        return 1
    power: int = 10 ** (len(str(value)) - 1)
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


@dataclass(frozen=True)
class BarChart:
    """Stacked bars, one per label (an hour, a day), one layer per series."""

    identifier: str  # Unique in the page: the SVG's title element id.
    title: str
    x_axis: str  # What a bar is, with its unit: "Hour (UTC+01:00)".
    y_axis: str  # What is counted: "Deliveries per hour".
    labels: Sequence[str]  # One per bar.
    series: Sequence[Series]
    label_every: int = 1  # Label one bar in so many.

    @property
    def plot_width(self) -> float:
        return WIDTH - LEFT - RIGHT

    @property
    def plot_height(self) -> float:
        return HEIGHT - TOP - BOTTOM

    def totals(self) -> list[int]:
        return [sum(values) for values in zip(*(s.values for s in self.series), strict=True)]

    def top(self) -> int:
        return nice_ceiling(max(self.totals(), default=0))

    def y_ticks(self) -> list[Tick]:
        top = self.top()
        divisions = (4, 5, 2) if str(top).startswith("2") else (5, 4, 2)
        step = next((top // n for n in divisions if top % n == 0), top)
        return [
            Tick(position=TOP + self.plot_height * (1 - value / top), label=f"{value:,}")
            for value in range(0, top + 1, step)
        ]

    def legend(self) -> list[tuple[float, Series]]:
        """Each series' swatch position, left to right above the plot."""
        return [(LEFT + 130 * index, series) for index, series in enumerate(self.series)]

    def slot(self) -> float:
        return self.plot_width / max(len(self.labels), 1)

    def x_ticks(self) -> list[Tick]:
        return [
            Tick(position=LEFT + self.slot() * (index + 0.5), label=label)
            for index, label in enumerate(self.labels)
            if index % self.label_every == 0
        ]

    def rectangles(self) -> list[Rectangle]:
        top, slot = self.top(), self.slot()
        width = max(slot * 0.8, 1.0)
        rectangles = []
        for index, label in enumerate(self.labels):
            base = TOP + self.plot_height
            x = LEFT + slot * index + (slot - width) / 2
            for series in self.series:
                value = series.values[index]
                if not value:
                    continue
                height = self.plot_height * value / top
                base -= height
                tooltip = f"{label}: {value:,} {series.name.lower()}"
                rectangles.append(Rectangle(x, base, width, height, series.color, tooltip))
        return rectangles

    def svg(self) -> SafeString:
        """The chart, as an inline ``<svg>`` element (its texts escaped)."""
        return SafeString(
            render_to_string(
                "logout_sso/admin/bar_chart.svg",
                {
                    "chart": self,
                    "width": WIDTH,
                    "height": HEIGHT,
                    "left": LEFT,
                    "right_edge": WIDTH - RIGHT,
                    "top": TOP,
                    "baseline": HEIGHT - BOTTOM,
                    "x_axis_y": HEIGHT - 8,
                    "y_axis_x": 14,
                    "middle_y": TOP + (HEIGHT - TOP - BOTTOM) / 2,
                    "middle_x": LEFT + (WIDTH - LEFT - RIGHT) / 2,
                },
            ).strip()
        )
