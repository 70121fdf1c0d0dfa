"""Calibration spread, computed from known panels."""

from __future__ import annotations

import statistics

import pytest

from quality.answers import Answer
from quality.calibration import Scored, spread
from quality.scoring import score
from tests.quality.conftest import small_form


def test_spread_of_three_evaluators() -> None:
    f = small_form()
    panel_answers: dict[str, dict[str, Answer]] = {
        "eva": {"a1": "yes", "a2": 5, "b1": "yes"},
        "sam": {"a1": "yes", "a2": 1, "b1": "yes"},
        "kim": {"a1": "no", "a2": 3, "b1": "na"},
    }
    panel = [Scored(name, score(f, a).value, a) for name, a in panel_answers.items()]
    scores = [p.score for p in panel]
    assert scores == pytest.approx([100.0, 70.0, 25.0])
    out = spread(f, panel)
    o = out["overall"]
    assert (o["evaluators"], o["scored"]) == (3, 3)
    assert (o["min"], o["max"]) == pytest.approx((25.0, 100.0))
    assert o["std_dev"] == pytest.approx(statistics.pstdev([100.0, 70.0, 25.0]))
    by_q = {q["question"]: q for q in out["questions"]}
    assert set(by_q) == {"a1", "a2", "b1"}  # free text b2 is not compared
    assert by_q["a2"]["agreement"] == pytest.approx(1 / 3) and by_q["a2"]["range"] == 1.0
    assert by_q["a1"]["agreement"] == pytest.approx(2 / 3) and by_q["a1"]["range"] == 1.0
    # b1: two said yes, one found it not applicable: only two values, both 1
    assert by_q["b1"]["range"] == 0.0 and by_q["b1"]["answers"]["kim"] == "na"
    assert out["questions"][0]["question"] == "a2"  # most disputed first


def test_unanimous_panel_has_no_spread() -> None:
    f = small_form()
    a: dict[str, Answer] = {"a1": "yes", "a2": 4, "b1": "yes"}
    out = spread(f, [Scored(n, score(f, a).value, a) for n in ("x", "y")])
    assert out["overall"]["std_dev"] == 0.0
    assert all(q["agreement"] == 1.0 and q["range"] == 0.0 for q in out["questions"])


def test_not_scored_evaluations_count_as_evaluators_but_not_in_the_score_spread() -> None:
    f = small_form()
    na: dict[str, Answer] = {"a1": "na", "a2": "na", "b1": "na"}
    yes: dict[str, Answer] = {"a1": "yes", "a2": 5, "b1": "yes"}
    out = spread(f, [Scored("x", None, na), Scored("y", 100.0, yes)])["overall"]
    assert (out["evaluators"], out["scored"], out["min"], out["std_dev"]) == (2, 1, 100.0, 0.0)
