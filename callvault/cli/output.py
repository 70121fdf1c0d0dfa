"""The one place commands print results: one JSON document with --json, else tables or fields.

Progress and logs go to stderr; results to stdout (design.md section 5).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)} | {0x0A: "\\n", 0x0D: "\\r"}


def one_line(text: str) -> str:
    """``text`` with control characters escaped, so it can never print as more than one line."""
    return text.translate(_CONTROL)


def emit(args: argparse.Namespace, data: Any, human: Callable[[], None]) -> None:
    """Exactly one JSON document on stdout with --json; otherwise the human form."""
    if getattr(args, "json", False):
        json.dump(data, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        human()


def note(text: str) -> None:
    """A line for the person at the terminal (stderr): counts, warnings, what happened."""
    print(text, file=sys.stderr)


@dataclass(frozen=True)
class Column:
    """One table column: a heading, how to get the cell from a row, and how to lay it out.

    ``width`` 0 leaves the cell unpadded (the last column); ``align`` is a format alignment
    (``<`` or ``>``); ``after`` is what separates this cell from the next one.
    """

    title: str
    cell: Callable[[Any], Any]
    width: int = 0
    align: str = "<"
    after: str = "  "


def table(
    rows: Iterable[Any],
    columns: Sequence[Column],
    *,
    header: bool = False,
    count: str | None = None,
) -> None:
    """Print ``rows`` as aligned text on stdout; ``count`` ("recording(s)") adds "N …" on stderr."""
    n = 0
    if header:
        print(_line(columns, [c.title for c in columns]))
    for row in rows:
        n += 1
        print(_line(columns, [c.cell(row) for c in columns]))
    if count is not None:
        note(f"{n} {count}")


def _line(columns: Sequence[Column], cells: Sequence[Any]) -> str:
    parts = []
    for i, (col, value) in enumerate(zip(columns, cells, strict=True)):
        text = one_line("-" if value is None else str(value))
        parts.append(f"{text:{col.align}{col.width}}" if col.width else text)
        if i < len(columns) - 1:
            parts.append(col.after)
    return "".join(parts).rstrip()


def fields(view: Mapping[str, Any]) -> None:
    """One ``key  value`` line per item, keys aligned; lists joined, nested objects as JSON."""
    width = max((len(k) for k in view), default=0)
    for k, value in view.items():
        if isinstance(value, dict):
            value = json.dumps(value, sort_keys=True)
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "-"
        print(f"{k:<{width}}  {one_line('-' if value is None else str(value))}")
