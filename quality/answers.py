"""Answers and timed comments, checked against the pinned form version and the recording.

Answers are ``{question id: answer}``: ``"yes"``, ``"no"`` or ``"na"`` for a yes-no question,
an integer 1-5 or ``"na"`` for a scale question, text (optional) for a free-text one. Every
yes-no and scale question must be answered; "na" is how an evaluator says it did not apply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from quality.definition import Form
from quality.errors import AnswerError

Answer = str | int
NA = "na"
FREE_TEXT_MAX = 4000
COMMENT_MAX = 2000
MAX_COMMENTS = 200


@dataclass(frozen=True)
class Comment:
    """A comment pinned to ``offset_s`` seconds into the recording, optionally on a question."""

    offset_s: float
    text: str
    question_id: str | None = None


def check_answers(form: Form, raw: object) -> dict[str, Answer]:
    """The answers in form order, or an AnswerError naming the first question at fault."""
    if not isinstance(raw, Mapping):
        raise AnswerError("answers must be an object of {question id: answer}")
    questions = form.questions()
    unknown = sorted(set(raw) - set(questions))
    if unknown:
        raise AnswerError(
            f"form {form.slug}: no question {', '.join(map(repr, unknown))} in this version"
        )
    out: dict[str, Answer] = {}
    missing = []
    for qid, q in questions.items():
        if qid not in raw:
            if q.scored:
                missing.append(qid)
            continue
        value = raw[qid]
        where = f"form {form.slug}, question {qid} ({q.kind})"
        if q.kind == "yes-no":
            if value not in ("yes", "no", NA):
                raise AnswerError(f'{where}: answer must be "yes", "no" or "na"')
        elif q.kind == "scale":
            ok = value == NA or (
                isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5
            )
            if not ok:
                raise AnswerError(f'{where}: answer must be a whole number 1-5 or "na"')
        else:
            if not isinstance(value, str):
                raise AnswerError(f"{where}: answer must be text")
            if len(value) > FREE_TEXT_MAX:
                raise AnswerError(f"{where}: answer is longer than {FREE_TEXT_MAX} characters")
            if not value.strip():
                continue
        out[qid] = value
    if missing:
        raise AnswerError(f"form {form.slug}: unanswered question(s) {', '.join(missing)}")
    return out


def check_comments(form: Form, raw: object, duration_s: float) -> list[Comment]:
    """Comments as ``[{"at": seconds, "text": …, "question": id?}]``, each within the audio."""
    if raw is None:
        return []
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise AnswerError('comments must be a list of {"at": seconds, "text": "..."}')
    if len(raw) > MAX_COMMENTS:
        raise AnswerError(f"{len(raw)} comments; at most {MAX_COMMENTS} per evaluation")
    questions = form.questions()
    out = []
    for n, item in enumerate(raw, 1):
        where = f"comment {n}"
        if not isinstance(item, Mapping):
            raise AnswerError(f'{where} must be an object {{"at": seconds, "text": "..."}}')
        unknown = sorted(set(item) - {"at", "text", "question"})
        if unknown:
            raise AnswerError(
                f"{where}: unknown key(s) {', '.join(unknown)}; allowed: at, question, text"
            )
        at = item.get("at")
        if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
            raise AnswerError(f'{where}: "at" must be a number of seconds into the recording')
        if not 0 <= at <= duration_s:
            raise AnswerError(
                f"{where}: at {at:g} s is outside the recording (0 to {duration_s:g} s)"
            )
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            raise AnswerError(f"{where}: text is missing or empty")
        if len(text) > COMMENT_MAX:
            raise AnswerError(f"{where}: text is longer than {COMMENT_MAX} characters")
        qid = item.get("question")
        if qid is not None and qid not in questions:
            raise AnswerError(f"{where}: form {form.slug} has no question {qid!r}")
        out.append(Comment(float(at), text, qid))
    return out
