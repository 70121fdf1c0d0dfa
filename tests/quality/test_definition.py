"""Form definitions: TOML and JSON, the weight rule, and errors that name the form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from quality.answers import check_answers, check_comments
from quality.definition import Form, load_form_file, parse_form
from quality.errors import AnswerError, FormError
from tests.quality.conftest import small_form


def test_the_shipped_form_has_the_council_sections(example_form: Form) -> None:
    assert example_form.slug == "council-contact-centre"
    assert [s.id for s in example_form.sections] == [
        "greeting",
        "identity",
        "data-protection",
        "resolution",
        "courtesy",
        "notes",
    ]
    assert sum(s.weight for s in example_form.sections) == 100
    assert [q.id for q in example_form.questions().values() if q.fails_evaluation] == [
        "dp-no-disclosure"
    ]


def test_toml_and_json_give_the_same_form(example_form: Form, tmp_path: Path) -> None:
    p = tmp_path / "form.json"
    p.write_text(json.dumps(example_form.to_dict()))
    again = load_form_file(p)
    assert again == example_form and again.fingerprint == example_form.fingerprint


def _doc(weights: list[float]) -> dict[str, Any]:
    return {
        "id": "weights",
        "title": "W",
        "sections": [
            {
                "id": f"s{i}",
                "title": "S",
                "weight": w,
                "questions": [{"id": f"q{i}", "text": "?", "kind": "yes-no"}],
            }
            for i, w in enumerate(weights)
        ],
    }


def test_weights_must_sum_to_100_and_the_error_names_form_and_sum() -> None:
    with pytest.raises(FormError, match=r"^form weights: section weights sum to 95, not 100 "):
        parse_form(_doc([50, 45]))
    with pytest.raises(FormError, match="sum to 110, not 100"):
        parse_form(_doc([60, 50]))
    assert parse_form(_doc([33.5, 66.5])).sections[1].weight == 66.5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "Bad Id"}, "form id must be"),
        ({"colour": "red"}, "form small: unknown key(s) colour"),
        ({"sections": []}, "form small: needs at least one section"),
    ],
)
def test_bad_forms_say_what_is_wrong(change: dict[str, Any], message: str) -> None:
    with pytest.raises(FormError) as err:
        small_form(**change)
    assert message in str(err.value)


def test_bad_questions_name_their_section_and_question() -> None:
    doc = _doc([100])
    doc["sections"][0]["questions"][0]["kind"] = "stars"
    with pytest.raises(FormError, match=r"form weights, section s0, question q0: kind is 'stars'"):
        parse_form(doc)
    doc["sections"][0]["questions"][0] |= {"kind": "scale", "fails_evaluation": True}
    with pytest.raises(FormError, match="only a yes-no question can fail"):
        parse_form(doc)
    doc["sections"][0]["questions"][0] = {"id": "q0", "text": "?", "kind": "text"}
    with pytest.raises(FormError, match="only free-text questions"):
        parse_form(doc)


def test_bad_files_are_one_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "f.toml"
    p.write_text("id = [unclosed")
    with pytest.raises(FormError, match=r"f\.toml is not valid TOML"):
        load_form_file(p)
    with pytest.raises(FormError, match=r"expected a \.toml or \.json"):
        load_form_file(tmp_path / "f.yaml")


def test_answers_are_checked_against_the_form() -> None:
    f = small_form()
    with pytest.raises(AnswerError, match=r"unanswered question\(s\) a2, b1"):
        check_answers(f, {"a1": "yes"})
    with pytest.raises(AnswerError, match=r"question a2 \(scale\): answer must be a whole number"):
        check_answers(f, {"a1": "yes", "a2": 6, "b1": "yes"})
    with pytest.raises(AnswerError, match=r"question a2 \(scale\): answer must be"):
        check_answers(f, {"a1": "yes", "a2": True, "b1": "yes"})
    with pytest.raises(AnswerError, match=r"question a1 \(yes-no\): answer must be"):
        check_answers(f, {"a1": "maybe", "a2": 3, "b1": "yes"})
    with pytest.raises(AnswerError, match="no question 'zz'"):
        check_answers(f, {"a1": "yes", "a2": 3, "b1": "yes", "zz": "yes"})


def test_comments_must_fall_within_the_recording() -> None:
    f = small_form()
    ok = check_comments(
        f, [{"at": 0, "text": "hello"}, {"at": 4.5, "text": "x", "question": "a1"}], 4.5
    )
    assert [c.offset_s for c in ok] == [0.0, 4.5] and ok[1].question_id == "a1"
    with pytest.raises(
        AnswerError, match=r"comment 1: at 4.6 s is outside the recording \(0 to 4.5 s\)"
    ):
        check_comments(f, [{"at": 4.6, "text": "late"}], 4.5)
    with pytest.raises(AnswerError, match="comment 1: at -1 s is outside"):
        check_comments(f, [{"at": -1, "text": "early"}], 4.5)
    with pytest.raises(AnswerError, match="comment 1: text is missing"):
        check_comments(f, [{"at": 1}], 4.5)
    with pytest.raises(AnswerError, match="comment 1: form small has no question 'nope'"):
        check_comments(f, [{"at": 1, "text": "t", "question": "nope"}], 4.5)
