"""The evaluation form as posted by a browser, turned into quality's answers and comments.

Fields: ``q-<question id>`` (yes/no/na, 1-5 or na, or text) and ``comments``, one comment a
line as ``M:SS text`` or ``SECONDS text`` (e.g. ``1:05 did not confirm the address``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from portal.errors import BadInput
from quality.definition import Form

_LINE = re.compile(r"^\s*(?:(\d{1,3}):([0-5]?\d(?:\.\d+)?)|(\d+(?:\.\d+)?))\s+(.+?)\s*$")


def answers_from_form(form: Form, fields: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for qid, q in form.questions().items():
        value = fields.get(f"q-{qid}")
        if not isinstance(value, str) or value == "":
            continue  # quality says which required question is unanswered
        if q.kind == "scale" and value.isdigit():
            out[qid] = int(value)
        else:
            out[qid] = value
    return out


def comments_from_text(text: str) -> list[dict[str, Any]]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _LINE.match(line)
        if m is None:
            raise BadInput(
                f"comment line {n}: start with the moment in the call, as M:SS or seconds, "
                "then the comment (e.g. 1:05 address not confirmed)"
            )
        minutes, seconds, plain, body = m.groups()
        at = float(plain) if plain is not None else int(minutes) * 60 + float(seconds)
        out.append({"at": at, "text": body})
    return out


def mmss(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    return f"{int(m)}:{s:04.1f}"
