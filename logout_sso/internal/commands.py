"""What the commands operators script share: exit codes, one-line failures on stderr, ``--json``
on stdout, an ``--help`` that keeps its layout, waiting with a deadline, progress bars and
plain-text tables.

Exit codes (DESIGN.md, "Commands scripts rely on"): 0 success, 1 some deliveries failed, 2 bad
arguments, 3 timed out waiting. A failure is a :class:`~django.core.management.CommandError`
carrying its code: ``manage.py`` prints its one-line reason on stderr and exits with it;
``call_command`` raises it (``returncode``).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from enum import IntEnum
from typing import Any, NoReturn, TextIO, TypeVar, cast

from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    DjangoHelpFormatter,
    OutputWrapper,
)

from logout_sso.models import Application, Organization

T = TypeVar("T")


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # Some deliveries failed.
    USAGE = 2  # Bad arguments: unknown organization, application, options that do not go together.
    TIMED_OUT = 3  # --wait's deadline passed with deliveries still pending.


class HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's order of options; the description and the epilog (exit codes, examples) keep
    their lines."""


def seconds(value: str) -> float:
    """An argparse type: a number of seconds greater than 0."""
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds greater than 0, not {value!r}")
    return number


class OperatorCommand(BaseCommand):
    """A command operators script: ``help`` and ``epilog`` shown as written by ``--help``."""

    epilog = ""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("epilog", self.epilog or None)
        return super().create_parser(prog_name, subcommand, **kwargs)

    @staticmethod
    def add_json_argument(parser: CommandParser, described: str) -> None:
        parser.add_argument(
            "--json", action="store_true", help=f"Print one JSON object on stdout: {described}."
        )

    def fail(self, reason: str, code: ExitCode = ExitCode.USAGE) -> NoReturn:
        raise CommandError(reason, returncode=code)

    def organization(self, slug: str) -> Organization:
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            self.fail(f"No organization with slug {slug!r}.")
        return organization

    def application(self, client_id: str) -> Application:
        application = Application.objects.filter(client_id=client_id).first()
        if application is None:
            self.fail(f"No application with client id {client_id!r}.")
        return application

    def emit(self, payload: dict[str, Any], text: Sequence[str], *, as_json: bool) -> None:
        """Print ``payload`` as one line of JSON, or ``text``'s lines."""
        if as_json:
            self.stdout.write(json.dumps(payload))
        else:
            for line in text:
                self.stdout.write(line)


def wait_until(
    read: Callable[[], T],
    finished: Callable[[T], bool],
    *,
    timeout: float,
    every: float = 0.5,
    seen: Callable[[T], None] = lambda state: None,
) -> tuple[T, bool]:
    """Read the state every ``every`` seconds (``seen`` is shown each one) until it is
    ``finished`` or ``timeout`` seconds have passed; return the last state read and whether it
    was finished."""
    deadline = time.monotonic() + timeout
    while True:
        state = read()
        seen(state)
        if finished(state):
            return state, True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return state, False
        time.sleep(min(every, remaining))


class ProgressBars:
    """Progress bars (tqdm, from the ``[hub]`` extra) on ``stream``: drawn on a terminal only,
    so a log or a pipe gets none; without tqdm, none at all."""

    def __init__(self, stream: OutputWrapper) -> None:
        # The wrapped stream itself: Django's wrapper would end each redraw with a newline.
        self._stream = cast("TextIO", stream._out)
        self._bars: dict[str, Any] = {}

    def show(self, label: str, done: int, total: int) -> None:
        bar = self._bars.get(label)
        if bar is None:
            try:
                from tqdm import tqdm  # Only to wait: a base install runs without it.
            except ImportError:
                return
            bar = tqdm(
                desc=label,
                unit=f" {label}",
                total=total,
                file=self._stream,
                position=len(self._bars),
                disable=None,  # Drawn on a terminal only.
                dynamic_ncols=True,
            )
            self._bars[label] = bar
        bar.total, bar.n = total, done
        bar.refresh()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Lines of a plain-text table, columns padded to their widest cell."""
    cells = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
