"""A QA form as defined in a TOML or JSON file: sections with weights, questions of three kinds.

The definition is validated when it is read, and every error names the form and the section or
question at fault. Its canonical JSON (sorted keys) is what a form version stores; the SHA-256
of that JSON tells whether a re-loaded file changed the form.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quality.errors import FormError

KINDS = ("yes-no", "scale", "text")  # yes/no/not-applicable, 1-5, free text (not scored)
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
TITLE_MAX = 200
TEXT_MAX = 1000


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    kind: str
    fails_evaluation: bool = False  # a "no" scores the whole evaluation 0

    @property
    def scored(self) -> bool:
        return self.kind != "text"


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    weight: float
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class Form:
    """One version's content. `slug` names the form across its versions."""

    slug: str
    title: str
    sections: tuple[Section, ...]
    description: str = ""

    def questions(self) -> dict[str, Question]:
        return {q.id: q for s in self.sections for q in s.questions}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.slug,
            "title": self.title,
            "description": self.description,
            "sections": [
                {
                    "id": s.id,
                    "title": s.title,
                    "weight": s.weight,
                    "questions": [
                        {
                            "id": q.id,
                            "text": q.text,
                            "kind": q.kind,
                            "fails_evaluation": q.fails_evaluation,
                        }
                        for q in s.questions
                    ],
                }
                for s in self.sections
            ],
        }

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


def load_form_file(path: Path) -> Form:
    """Read a form from ``*.toml`` or ``*.json``; a FormError names the file and what is wrong."""
    if path.suffix not in (".toml", ".json"):
        raise FormError(f"form file {path}: expected a .toml or .json file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FormError(f"cannot read form file {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormError(f"form file {path} is not valid {path.suffix[1:].upper()}: {exc}") from exc
    return parse_form(data)


def parse_form(data: object) -> Form:
    """Build and validate a Form from the decoded TOML/JSON document."""
    if not isinstance(data, dict):
        raise FormError("a form definition must be an object/table")
    slug = data.get("id")
    if not isinstance(slug, str) or not SLUG.match(slug):
        raise FormError(
            "form id must be 1-64 lower-case letters, digits or '-', starting with a letter "
            "or digit"
        )
    where = f"form {slug}"
    _only(data, {"id", "title", "description", "sections"}, where)
    title = _text(data.get("title"), f"{where}: title", TITLE_MAX)
    description = data.get("description", "")
    if not isinstance(description, str) or len(description) > TEXT_MAX:
        raise FormError(f"{where}: description must be text of at most {TEXT_MAX} characters")
    raw_sections = data.get("sections")
    if not isinstance(raw_sections, list) or not raw_sections:
        raise FormError(f"{where}: needs at least one section ([[sections]])")
    sections = tuple(_section(s, i, where) for i, s in enumerate(raw_sections, 1))
    _unique([s.id for s in sections], f"{where}: section id")
    _unique([q.id for s in sections for q in s.questions], f"{where}: question id")
    total = math.fsum(s.weight for s in sections)
    if abs(total - 100) > 1e-9:
        parts = ", ".join(f"{s.id} {s.weight:g}" for s in sections)
        raise FormError(f"{where}: section weights sum to {total:g}, not 100 ({parts})")
    if not any(q.scored for s in sections if s.weight > 0 for q in s.questions):
        raise FormError(f"{where}: no weighted section has a yes-no or scale question to score")
    return Form(slug, title, sections, description)


def _section(data: object, n: int, form: str) -> Section:
    if not isinstance(data, dict):
        raise FormError(f"{form}: section {n} must be a table/object")
    sid = _slug(data.get("id"), f"{form}: section {n} id")
    where = f"{form}, section {sid}"
    _only(data, {"id", "title", "weight", "questions"}, where)
    title = _text(data.get("title"), f"{where}: title", TITLE_MAX)
    weight = data.get("weight")
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
        raise FormError(
            f"{where}: weight must be a number (the weights of all sections sum to 100)"
        )
    if weight < 0:
        raise FormError(f"{where}: weight is {weight:g}; it cannot be negative")
    raw = data.get("questions")
    if not isinstance(raw, list) or not raw:
        raise FormError(f"{where}: needs at least one question ([[sections.questions]])")
    questions = tuple(_question(q, i, where) for i, q in enumerate(raw, 1))
    if weight > 0 and not any(q.scored for q in questions):
        raise FormError(
            f"{where}: weight is {weight:g} but it has only free-text questions, which are "
            "not scored (give it weight 0 or a yes-no/scale question)"
        )
    return Section(sid, title, float(weight), questions)


def _question(data: object, n: int, section: str) -> Question:
    if not isinstance(data, dict):
        raise FormError(f"{section}: question {n} must be a table/object")
    qid = _slug(data.get("id"), f"{section}: question {n} id")
    where = f"{section}, question {qid}"
    _only(data, {"id", "text", "kind", "fails_evaluation"}, where)
    text = _text(data.get("text"), f"{where}: text", TEXT_MAX)
    kind = data.get("kind")
    if kind not in KINDS:
        raise FormError(f"{where}: kind is {kind!r}; expected one of {', '.join(KINDS)}")
    fails = data.get("fails_evaluation", False)
    if not isinstance(fails, bool):
        raise FormError(f"{where}: fails_evaluation must be true or false")
    if fails and kind != "yes-no":
        raise FormError(f"{where}: only a yes-no question can fail the whole evaluation")
    return Question(qid, text, str(kind), fails)


def _slug(value: object, what: str) -> str:
    if not isinstance(value, str) or not SLUG.match(value):
        raise FormError(f"{what} must be 1-64 lower-case letters, digits or '-'")
    return value


def _text(value: object, what: str, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FormError(f"{what} is missing or empty")
    if len(value) > max_len:
        raise FormError(f"{what} is {len(value)} characters long; at most {max_len}")
    return value


def _only(data: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise FormError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise FormError(f"{what} {i!r} is used twice")
        seen.add(i)
