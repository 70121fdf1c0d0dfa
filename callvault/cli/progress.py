"""Progress of a long-running command on stderr, only when stderr is a terminal.

Commands hand the domain code a plain callback (``advance(n)``); the domain never imports
rich, and a command whose stderr is a file or a pipe prints nothing extra.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Advance = Callable[[int], None]


def _nothing(n: int = 1) -> None:
    return None


@contextmanager
def progress(label: str, *, total: int | None = None, unit: str = "") -> Iterator[Advance]:
    """``advance(n)`` adds n items done; a bar (or a counter, without ``total``) on a TTY."""
    if not sys.stderr.isatty():
        yield _nothing
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns.append(BarColumn())
    columns += [MofNCompleteColumn(), TextColumn(unit), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance
