"""Calibration: several evaluators score the same call against the same form version; how far
apart they are, overall and question by question."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from quality.answers import NA, Answer
from quality.definition import Form
from quality.scoring import question_value


@dataclass(frozen=True)
class Scored:
    """One evaluator's evaluation, as calibration needs it."""

    evaluator: str
    score: float | None
    answers: Mapping[str, Answer]


def spread(form: Form, evaluations: Sequence[Scored]) -> dict[str, Any]:
    """The spread of scores (min, max, mean, population standard deviation: the evaluators are
    the whole panel, not a sample) over the scored evaluations, and per question:

    - ``answers``: each evaluator's answer;
    - ``agreement``: the share of evaluators who gave the most common answer (1.0 = all agree);
    - ``range``: max - min of the answers' 0..1 values (see quality.scoring), None when fewer
      than two evaluators found the question applicable.

    Questions are listed most disputed first (lowest agreement, then widest range).
    """
    scores = [e.score for e in evaluations if e.score is not None]
    overall: dict[str, Any] = {
        "evaluators": len(evaluations),
        "scored": len(scores),
        "min": min(scores, default=None),
        "max": max(scores, default=None),
        "mean": statistics.fmean(scores) if scores else None,
        "std_dev": statistics.pstdev(scores) if scores else None,
    }
    questions: list[dict[str, Any]] = []
    for section in form.sections:
        for q in section.questions:
            if not q.scored:
                continue
            given = {e.evaluator: e.answers.get(q.id, NA) for e in evaluations}
            counts = Counter(given.values())
            values = [v for a in given.values() if (v := question_value(q, a)) is not None]
            questions.append(
                {
                    "question": q.id,
                    "section": section.id,
                    "answers": given,
                    "agreement": counts.most_common(1)[0][1] / len(given) if given else None,
                    "range": (max(values) - min(values)) if len(values) >= 2 else None,
                }
            )
    questions.sort(key=lambda d: (d["agreement"] or 0.0, -(d["range"] or 0.0)))
    return {"overall": overall, "questions": questions}
