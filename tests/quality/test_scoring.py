"""The scoring rule of quality.scoring, by hand and by property (hypothesis)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quality.answers import check_answers
from quality.definition import Form, parse_form
from quality.scoring import score
from tests.quality.conftest import all_yes, small_form


def test_hand_worked_scores() -> None:
    f = small_form()
    # a: mean(1, (4-1)/4 = .75) = .875, weight 60; b: 1 (b2 is free text), weight 40
    s = score(f, check_answers(f, {"a1": "yes", "a2": 4, "b1": "yes", "b2": "fine"}))
    assert s.value == pytest.approx(100 * (60 * 0.875 + 40 * 1) / 100)
    assert s.sections == {"a": 0.875, "b": 1.0}
    # a "no" on an ordinary question counts 0; scale 1 counts 0
    assert score(f, {"a1": "no", "a2": 1, "b1": "yes"}).value == pytest.approx(40.0)


def test_a_failing_question_scores_zero_whatever_else() -> None:
    f = small_form()
    s = score(f, {"a1": "yes", "a2": 5, "b1": "no"})
    assert (s.value, s.failed_on, s.scored) == (0.0, "b1", True)


def test_not_applicable_drops_out_and_the_weights_renormalise() -> None:
    f = small_form()
    # b1 not applicable: section b (weight 40) drops out, a alone makes 100 %
    assert score(f, {"a1": "yes", "a2": 5, "b1": "na"}).value == pytest.approx(100.0)
    assert score(f, {"a1": "yes", "a2": 3, "b1": "na"}).value == pytest.approx(75.0)
    # within a section, an NA question drops out of the mean
    assert score(f, {"a1": "na", "a2": 3, "b1": "na"}).value == pytest.approx(50.0)


def test_all_not_applicable_is_not_scored_rather_than_zero() -> None:
    f = small_form()
    s = score(f, {"a1": "na", "a2": "na", "b1": "na"})
    assert s.value is None and not s.scored and s.failed_on is None


def test_the_shipped_example_form(example_form: Form) -> None:
    assert score(example_form, all_yes(example_form)).value == pytest.approx(100.0)
    assert score(example_form, all_yes(example_form, scale=1)).value == pytest.approx(
        100 * (10 * 0.5 + 20 + 25 + 30 * (1 / 3) + 15 * 0.5) / 100
    )
    failing = all_yes(example_form) | {"dp-no-disclosure": "no"}
    assert score(example_form, failing).failed_on == "dp-no-disclosure"


# -- properties ----------------------------------------------------------------------------


@st.composite
def forms_and_answers(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    n = draw(st.integers(1, 5))
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=n - 1, max_size=n - 1)))
    weights = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
    sections: list[dict[str, Any]] = []
    answers: dict[str, Any] = {}
    for i, w in enumerate(weights):
        kinds = [draw(st.sampled_from(["yes-no", "scale"]))]
        kinds += draw(st.lists(st.sampled_from(["yes-no", "scale", "text"]), max_size=3))
        questions = []
        for j, kind in enumerate(kinds):
            qid = f"s{i}q{j}"
            fails = kind == "yes-no" and draw(st.booleans()) and draw(st.booleans())
            questions.append({"id": qid, "text": qid, "kind": kind, "fails_evaluation": fails})
            if kind == "yes-no":
                answers[qid] = draw(st.sampled_from(["yes", "no", "na"]))
            elif kind == "scale":
                answers[qid] = draw(st.one_of(st.integers(1, 5), st.just("na")))
            elif draw(st.booleans()):
                answers[qid] = draw(st.text(min_size=1, max_size=5))
        sections.append({"id": f"s{i}", "title": f"S{i}", "weight": w, "questions": questions})
    return {"id": "prop", "title": "Property form", "sections": sections}, answers


@settings(max_examples=300, deadline=None)
@given(forms_and_answers())
def test_score_is_in_range_and_a_fail_forces_zero(case: tuple[dict[str, Any], Any]) -> None:
    doc, raw = case
    f = parse_form(doc)
    s = score(f, check_answers(f, raw))
    fails = [q.id for q in f.questions().values() if q.fails_evaluation and raw.get(q.id) == "no"]
    if fails:
        assert s.value == 0.0 and s.failed_on == fails[0]
    elif s.value is not None:
        assert 0.0 <= s.value <= 100.0
    else:  # not scored only when no weighted section has an applicable answer
        live = [
            sec
            for sec in f.sections
            if sec.weight > 0
            and any(q.scored and raw.get(q.id) not in (None, "na") for q in sec.questions)
        ]
        assert live == []


@settings(max_examples=300, deadline=None)
@given(forms_and_answers())
def test_dropped_sections_renormalise(case: tuple[dict[str, Any], Any]) -> None:
    """Scoring with NA sections equals scoring a form without them, weights rescaled to 100."""
    doc, raw = case
    f = parse_form(doc)
    s = score(f, raw)
    if s.failed_on is not None or s.value is None:
        return
    kept = [sec for sec in doc["sections"] if s.sections and s.sections[sec["id"]] is not None]
    total = sum(sec["weight"] for sec in kept)
    rescaled = [sec | {"weight": sec["weight"] * 100 / total} for sec in kept]
    # rescaled weights may not sum to exactly 100 in binary floating point; give the last the rest
    rescaled[-1]["weight"] = max(0.0, 100 - sum(sec["weight"] for sec in rescaled[:-1]))
    g = parse_form(doc | {"sections": rescaled})
    assert score(g, {k: v for k, v in raw.items() if k in g.questions()}).value == pytest.approx(
        s.value
    )


@settings(max_examples=100, deadline=None)
@given(forms_and_answers())
def test_all_na_is_not_scored(case: tuple[dict[str, Any], Any]) -> None:
    doc, _ = case
    f = parse_form(doc)
    na = {qid: "na" for qid, q in f.questions().items() if q.scored}
    assert score(f, check_answers(f, na)).value is None
