"""Progress and diagnostics on stderr: a rich progress bar on a terminal, plain lines otherwise.

rich is finder's one terminal library: it draws the progress bar here and the
tables of ``finder evaluate`` and ``finder bench``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click


class Reporter:
    """Where a command's progress, skipped files and summary go."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._console: Any = None

    def error(self, message: str) -> None:
        """A diagnostic line; shown even with --quiet (skipped files are not silent)."""
        if self._console is not None:
            self._console.print(f"finder: {message}", markup=False, highlight=False, soft_wrap=True)
        else:
            click.echo(f"finder: {message}", err=True)

    def warning(self, message: str) -> None:
        """``finder: warning: ...``; shown even with --quiet (a result that is likely wrong is not silent)."""
        self.error(f"warning: {message}")

    def info(self, message: str) -> None:
        """A status line, hidden by --quiet."""
        if not self.quiet:
            click.echo(f"finder: {message}", err=True)

    @contextlib.contextmanager
    def bar(self, total: int, label: str) -> Iterator[Callable[[int], None] | None]:
        """Yield a callback advancing a progress bar, or None when stderr is not a terminal or quiet."""
        if self.quiet or total == 0 or sys.stderr is None or not sys.stderr.isatty():
            yield None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task(label, total=total, rate="")
            self._console = progress.console

            def advance(count: int) -> None:
                progress.advance(task, count)
                speed = progress.tasks[0].speed
                progress.update(task, rate=f"{speed:,.0f}/s" if speed else "")

            try:
                yield advance
            finally:
                self._console = None
