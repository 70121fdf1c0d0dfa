"""`callvault qa …` as an operator uses it: the installed console script on a real catalogue."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from callvault.wiring import Services
from quality.definition import Form
from tests.conftest import Backend
from tests.quality.conftest import EXAMPLE, all_yes, ingest_call


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


# The CLI only calls the domain, which test_evaluations.py runs on both backends; one is enough
# here (each command is a fresh process).
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite-fs"], indirect=True)


@SQLITE_ONLY
def test_forms_evaluate_calibrate_and_report(
    backend: Backend, services: Services, speech_call: Path, example_form: Form, tmp_path: Path
) -> None:
    r = backend.cli("qa", "forms", "load", str(EXAMPLE), check=True)
    assert r.stdout.strip() == "form council-contact-centre loaded as version 1"
    r = backend.cli("qa", "forms", "load", str(EXAMPLE), check=True)
    assert "unchanged: still version 1" in r.stdout
    [listed] = json.loads(backend.cli("qa", "forms", "list", "--json", check=True).stdout)
    assert (listed["ref"], listed["versions"], listed["evaluations"]) == (
        "council-contact-centre@1",
        1,
        0,
    )
    shown = backend.cli("qa", "forms", "show", "council-contact-centre@1", check=True).stdout
    assert "[data-protection] Data protection  (weight 25)" in shown
    assert "FAILS THE EVALUATION" in shown

    rid = ingest_call(services, speech_call, call_id="cli-1", agent="alice", service="waste")
    answers = tmp_path / "answers.json"
    answers.write_text(
        json.dumps(
            {
                "answers": all_yes(example_form) | {"courtesy-manner": 3},
                "comments": [{"at": 1.0, "text": "Clear greeting", "question": "greeting-named"}],
            }
        )
    )
    r = backend.cli(
        "qa", "evaluate", rid, "--form", "council-contact-centre", "--answers", str(answers)
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("on council-contact-centre@1: 96.2 / 100")  # 100 - 15*.25/2
    r = backend.cli(
        "qa",
        "evaluate",
        rid,
        "--form",
        "council-contact-centre",
        "--answers",
        str(answers),
        "--calibration",
        "--json",
        check=True,
    )
    view = json.loads(r.stdout)
    assert (view["kind"], view["staff"], view["comments"][0]["at"]) == ("calibration", "alice", 1.0)

    cal = json.loads(backend.cli("qa", "calibration", rid, "--json", check=True).stdout)
    assert cal["overall"]["evaluators"] == 1  # the same OS user twice: their latest counts

    out = tmp_path / "report.csv"
    r = backend.cli(
        "qa",
        "report",
        "--by",
        "staff",
        "--period",
        "week",
        "--since",
        "2000-01-01",
        "--csv",
        str(out),
        "--json",
        check=True,
    )
    [row] = json.loads(r.stdout)
    assert (row["group"], row["evaluations"], row["average_score"]) == ("alice", 1, 96.25)
    lines = list(csv.reader(out.read_text().splitlines()))
    assert lines[0][:2] == ["staff", "week_start"] and lines[1][0] == "alice"
    assert lines[1][-1] == "96.25"
    human = backend.cli("qa", "report", "--by", "service", "--since", "2000-01-01", check=True)
    assert human.stdout.splitlines()[1].startswith("waste")


@SQLITE_ONLY
def test_bad_input_is_one_line_with_the_right_exit_code(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    bad_form = tmp_path / "bad.toml"
    bad_form.write_text(EXAMPLE.read_text().replace("weight = 30", "weight = 25"))
    r = backend.cli("qa", "forms", "load", str(bad_form))
    assert r.returncode == 1
    assert "form council-contact-centre: section weights sum to 95, not 100" in one_line_error(
        r.stderr
    )
    backend.cli("qa", "forms", "load", str(EXAMPLE), check=True)
    rid = ingest_call(services, speech_call, call_id="cli-2")
    answers = tmp_path / "a.json"
    answers.write_text('{"answers": {"greeting-named": "perhaps"}}')
    r = backend.cli(
        "qa", "evaluate", rid, "--form", "council-contact-centre", "--answers", str(answers)
    )
    assert r.returncode == 1
    assert 'greeting-named (yes-no): answer must be "yes", "no" or "na"' in one_line_error(r.stderr)
    answers.write_text("{not json")
    r = backend.cli(
        "qa", "evaluate", rid, "--form", "council-contact-centre", "--answers", str(answers)
    )
    assert r.returncode == 1 and "is not valid JSON" in one_line_error(r.stderr)
    r = backend.cli("qa", "report", "--by", "staff", "--tz", "Mars/Olympus")
    assert r.returncode == 2 and "not a known time zone" in one_line_error(r.stderr)
    r = backend.cli("qa", "report", "--by", "team")
    assert r.returncode == 2
    r = backend.cli("qa", "calibration", rid)
    assert r.returncode == 1 and "has no evaluations to compare" in one_line_error(r.stderr)
