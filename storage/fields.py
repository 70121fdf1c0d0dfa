"""The one definition of every metadata field's limits: the catalogue's column sizes
(storage/catalogue/models/) and the validation at the door (ingest, tag, export, holds,
objections) both come from here, so a value that passes validation always fits its column.

Error messages name the field and what is wrong, never the value itself: a bad value may be
personal data, or carry control characters that would forge a line of output.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from storage.errors import StorageError


class FieldError(StorageError):
    """A metadata value that fails its field's rules; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


@dataclass(frozen=True)
class TextField:
    """A short identifier-like text: 1..max_len characters, no control or format characters."""

    label: str
    max_len: int

    def check(self, value: object, *, label: str | None = None) -> str:
        name = label or self.label
        if not isinstance(value, str):
            raise FieldError(name, f"must be text, not {type(value).__name__}")
        if not value:
            raise FieldError(name, "is empty")
        if len(value) > self.max_len:
            raise FieldError(name, f"is {len(value)} characters long; at most {self.max_len}")
        bad = _first_unprintable(value, allow="")
        if bad is not None:
            raise FieldError(name, f"contains {_describe(value[bad])} at position {bad + 1}")
        if value != value.strip():
            raise FieldError(name, "starts or ends with white space")
        return value


CALL_ID = TextField("call id", 255)
SERVICE = TextField("service", 120)
AGENT = TextField("agent", 120)
CASE_ID = TextField("case id", 120)
ACTOR = TextField("actor", 120)
CALLER = TextField("caller", 255)  # as given; storage/identity.py decides what it means
HOLD_REFERENCE = TextField("hold reference", 120)
MAX_CASE_IDS = 50

REASON_MAX = 2000
CONSENT_MAX_BYTES = 64 * 1024
CONSENT_MAX_DEPTH = 32


def check_reason(value: object, what: str = "reason") -> str:
    """One rule for every free-text reason (export, holds, objections, tags): some visible
    text, at most REASON_MAX characters, no control characters but tab and newline."""
    if not isinstance(value, str):
        raise FieldError(what, f"must be text, not {type(value).__name__}")
    bad = _first_unprintable(value, allow="\t\n")
    if bad is not None and unicodedata.category(value[bad]) == "Cc":
        raise FieldError(what, f"contains {_describe(value[bad])} at position {bad + 1}")
    visible = "".join(ch for ch in value if not _invisible(ch))
    if not visible:
        raise FieldError(what, "is empty (white space or invisible characters only)")
    if len(value) > REASON_MAX:
        raise FieldError(what, f"is {len(value)} characters long; at most {REASON_MAX}")
    return value.strip()


def check_consent(doc: object, what: str = "consent record") -> dict[str, Any]:
    """A JSON object of at most CONSENT_MAX_BYTES (canonical form), nested at most
    CONSENT_MAX_DEPTH deep. Checked without recursion, so no depth can exhaust the stack."""
    if not isinstance(doc, dict):
        raise FieldError(what, f"must be a JSON object, not {type(doc).__name__}")
    depth = json_depth(doc)
    if depth > CONSENT_MAX_DEPTH:
        raise FieldError(what, f"is nested {depth} deep; at most {CONSENT_MAX_DEPTH}")
    try:
        size = len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode())
    except (TypeError, ValueError) as exc:
        raise FieldError(what, f"is not JSON data ({exc})") from None
    if size > CONSENT_MAX_BYTES:
        raise FieldError(what, f"is {size} bytes; at most {CONSENT_MAX_BYTES}")
    return doc


def json_depth(value: object, stop_at: int = CONSENT_MAX_DEPTH + 1) -> int:
    """Nesting depth of lists/objects, walked iteratively (stops counting past stop_at)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if deepest >= stop_at:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _invisible(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) in ("Cf", "Cc", "Zs", "Zl", "Zp", "Mn")


def _first_unprintable(value: str, allow: str) -> int | None:
    for i, ch in enumerate(value):
        if ch in allow:
            continue
        if unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp"):
            return i
    return None


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" ({name.lower()})" if name else " (a control character)")
