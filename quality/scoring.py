"""The score of an evaluation: one pure function, the rule written out in its docstring."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from quality.answers import NA, Answer
from quality.definition import Form, Question


@dataclass(frozen=True)
class Score:
    """``value`` in [0, 100], or None when nothing applicable was answered ("not scored")."""

    value: float | None
    failed_on: str | None = None  # the question whose "no" failed the evaluation
    sections: Mapping[str, float | None] | None = None  # each section's 0..1 score, or None

    @property
    def scored(self) -> bool:
        return self.value is not None


def question_value(q: Question, answer: Answer | None) -> float | None:
    """A question's contribution in 0..1, or None when it drops out (NA, free text, absent)."""
    if not q.scored or answer is None or answer == NA:
        return None
    if q.kind == "yes-no":
        return 1.0 if answer == "yes" else 0.0
    return (int(answer) - 1) / 4


def score(form: Form, answers: Mapping[str, Answer]) -> Score:
    """Score ``answers`` (already checked by quality.answers.check_answers) against ``form``.

    The rule, in order:

    1. A "no" to any question marked ``fails_evaluation`` scores the evaluation 0, whatever
       else was answered; ``failed_on`` names the first such question in form order.
    2. Each remaining answer counts 0..1: "yes" 1, "no" 0, a scale answer v counts (v-1)/4
       (1 -> 0, 3 -> 0.5, 5 -> 1). Not-applicable answers and free-text questions drop out.
    3. A section's score is the plain mean of the answers left in it. A section with no
       answer left drops out.
    4. The evaluation's score is 100 * sum(w * s) / sum(w) over the sections left, w their
       weights and s their scores: the weights of the sections left renormalise to 100.
       When no section is left, or the weights left sum to 0, the evaluation is "not scored"
       (value None), which is not the same as 0.
    """
    per_section: dict[str, float | None] = {}
    weighted, weights = [], []
    for section in form.sections:
        values = [
            v for q in section.questions if (v := question_value(q, answers.get(q.id))) is not None
        ]
        if not values:
            per_section[section.id] = None
            continue
        s = math.fsum(values) / len(values)
        per_section[section.id] = s
        weighted.append(section.weight * s)
        weights.append(section.weight)
    for section in form.sections:
        for q in section.questions:
            if q.fails_evaluation and answers.get(q.id) == "no":
                return Score(0.0, failed_on=q.id, sections=per_section)
    total = math.fsum(weights)
    if total <= 0:
        return Score(None, sections=per_section)
    return Score(100 * (math.fsum(weighted) / total), sections=per_section)
