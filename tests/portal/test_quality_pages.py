"""QA evaluations in the portal (issue 10 item 5) over a real uvicorn: the evaluation section
of the recording page, its scope, the audit, and the report page's SVG chart and CSV."""

from __future__ import annotations

import csv
import json
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from callvault.settings import load_settings
from callvault.wiring import Services
from quality.definition import load_form_file
from storage.catalogue.models import AuditEvent
from tests.conftest import CALLVAULT
from tests.portal.conftest import Site, csrf
from tests.quality.conftest import EXAMPLE, all_yes

WINDOW = {"since": "2026-11-01", "until": "2026-12-31", "by": "staff", "period": "week"}


@pytest.fixture(scope="module")
def loaded(site: Site) -> Site:
    r = subprocess.run(
        [CALLVAULT, "--config", str(site.config), "qa", "forms", "load", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return site


@pytest.fixture
def services(site: Site) -> Iterator[Services]:
    svc = Services.build(load_settings(site.config, environ={}))
    yield svc
    svc.close()


def fields(answers: dict[str, Any], token: str, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "form_ref": "council-contact-centre@1",
        **{f"q-{k}": str(v) for k, v in answers.items()},
        **extra,
    }


def evaluate(c: httpx.Client, rid: str, answers: dict[str, Any], **extra: str) -> httpx.Response:
    token = csrf(c, f"/recordings/{rid}/evaluations")
    return c.post(f"/recordings/{rid}/evaluations", data=fields(answers, token, **extra))


def test_fill_the_form_and_see_the_score(loaded: Site, services: Services) -> None:
    answers = all_yes(load_form_file(EXAMPLE)) | {"courtesy-manner": 3, "dp-card-pause": "na"}
    with loaded.client("qa-all") as c:
        page = c.get(f"/recordings/{loaded.housing}")
        assert f'href="/recordings/{loaded.housing}/evaluations#qa"' in page.text
        form = c.get(f"/recordings/{loaded.housing}/evaluations")
        assert form.status_code == 200
        for label in ('for="q-greeting-named-yes"', 'for="q-courtesy-manner-5"', "Data protection"):
            assert label in form.text
        assert '"no" fails the whole evaluation' in form.text
        r = evaluate(c, loaded.housing, answers, comments="0:02 good greeting\n30 clear next steps")
        assert r.status_code == 303, r.text[:500]
        shown = c.get(r.headers["location"])
        m = re.search(r'id="qa-score">Evaluation saved. Score:\s*([^<]+)</p>', shown.text)
        assert m and m[1].strip() == "96.2 / 100", shown.text[:3000]  # courtesy: 15 * (1 - .75)
        assert "0:02.0 good greeting" in shown.text and "0:30.0 clear next steps" in shown.text
    with services.catalogue.session() as s:
        [event] = s.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "evaluation.submit", AuditEvent.recording_id == loaded.housing
            )
        )
        assert event.actor == "portal:qa-all"
        assert set(json.loads(event.details)) == {"evaluation_id", "form", "form_version", "kind"}


def test_bad_answers_are_shown_on_the_page_and_nothing_is_stored(loaded: Site) -> None:
    answers = all_yes(load_form_file(EXAMPLE))
    with loaded.client("sup-housing") as c:
        before = c.get(f"/recordings/{loaded.housing}/evaluations").text.count("<tr>")
        partial = {k: v for k, v in answers.items() if k != "resolution-resolved"}
        r = evaluate(c, loaded.housing, partial)
        assert r.status_code == 400
        assert "unanswered question(s) resolution-resolved" in r.text
        assert 'id="q-greeting-named-yes" name="q-greeting-named" value="yes" required checked' in (
            r.text
        )  # what was filled in is kept
        r = evaluate(c, loaded.housing, answers, comments="59:00 long after the end")
        assert r.status_code == 400 and "is outside the recording" in r.text
        r = evaluate(c, loaded.housing, answers, comments="no time here")
        assert r.status_code == 400 and "comment line 1: start with the moment" in r.text
        after = c.get(f"/recordings/{loaded.housing}/evaluations").text.count("<tr>")
        assert after == before


def test_scope_and_roles(loaded: Site) -> None:
    answers = all_yes(load_form_file(EXAMPLE))
    with loaded.client("sup-waste") as c:
        assert c.get(f"/recordings/{loaded.housing}/evaluations").status_code == 404
        token = csrf(c, f"/recordings/{loaded.waste}/evaluations")
        r = c.post(f"/recordings/{loaded.housing}/evaluations", data=fields(answers, token))
        assert r.status_code == 404
    for role, status in (("auditor", 403), ("dpo", 403), ("admin", 403)):
        headers = {"Authorization": f"Bearer {loaded.tokens[role]}"}
        with httpx.Client(base_url=loaded.base, headers=headers, timeout=30) as c:
            assert c.get(f"/recordings/{loaded.housing}/evaluations").status_code == status
            assert c.get("/qa/report").status_code == status


def test_two_evaluators_show_the_spread_and_the_report_draws_it(loaded: Site) -> None:
    base = all_yes(load_form_file(EXAMPLE))
    with loaded.client("sup-housing") as c:
        r = evaluate(c, loaded.housing, base | {"resolution-resolved": "no"}, calibration="yes")
        assert r.status_code == 303
        page = c.get(r.headers["location"]).text
        assert 'id="qa-spread"' in page and "Where the evaluators disagree" in page
    with loaded.client("qa-all") as c:
        r = evaluate(c, loaded.waste, base | {"dp-no-disclosure": "no"})
        assert "0 / 100 (failed on dp-no-disclosure)" in c.get(r.headers["location"]).text
        report = c.get("/qa/report", params=WINDOW)
        assert report.status_code == 200
        rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>(\d+)</td>", report.text)
        # calibration runs are left out: alex has qa-all's one evaluation, sam one failed one
        assert ("alex", "2026-11-30", "1") in rows and ("sam", "2026-11-30", "1") in rows
        svg = c.get("/qa/report.svg", params=WINDOW)
        assert svg.headers["content-type"].startswith("image/svg+xml")
        assert svg.text.startswith("<svg") and svg.text.count("<circle") == 2
        assert "<script" not in svg.text and "style=" not in svg.text
        exported = c.get("/qa/report.csv", params=WINDOW)
        assert exported.headers["cache-control"] == "no-store"
        lines = list(csv.reader(exported.text.splitlines()))
        assert lines[0][0] == "staff" and {row[0] for row in lines[1:]} == {"alex", "sam"}
        assert c.get("/qa/report", params=WINDOW | {"by": "team"}).status_code == 400
    with loaded.client("sup-waste") as c:  # only the waste service's calls
        lines = list(csv.reader(c.get("/qa/report.csv", params=WINDOW).text.splitlines()))
        assert [row[0] for row in lines[1:]] == ["sam"]
