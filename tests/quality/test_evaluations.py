"""The evaluation domain on SQLite + filesystem and PostgreSQL + S3, with real recordings
ingested through storage's pipeline."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from callvault.wiring import Services
from quality.definition import Form, parse_form
from quality.errors import AnswerError, QualityError
from quality.evaluations import Evaluations
from quality.library import FormLibrary
from quality.reports import report
from storage.audit import verify_chain
from storage.catalogue.models import AuditEvent, QaEvaluation, Recording
from storage.errors import NotFoundError
from tests.quality.conftest import all_yes, ingest_call

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def approx2(x: float) -> object:
    """Views round scores to two decimals."""
    return pytest.approx(x, abs=0.005)


def edited(form: Form) -> Form:
    """The example form with the resolution section reweighted (a new version's content)."""
    doc = form.to_dict()
    weights = {"resolution": 20, "courtesy": 25}
    for s in doc["sections"]:
        s["weight"] = weights.get(s["id"], s["weight"])
    return parse_form(doc)


def audit_events(services: Services, action: str) -> list[AuditEvent]:
    with services.catalogue.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_editing_a_form_makes_a_version_and_evaluations_keep_theirs(
    services: Services, speech_call: Path, example_form: Form
) -> None:
    lib, evs = FormLibrary(services.catalogue), Evaluations(services.catalogue)
    first = lib.load(example_form, actor="qa-lead", now=NOW)
    assert (first["ref"], first["changed"]) == ("council-contact-centre@1", True)
    assert lib.load(example_form, actor="qa-lead")["changed"] is False  # same content: no v2
    rid = ingest_call(services, speech_call, call_id="pin-1")
    answers = all_yes(example_form, scale=1)
    old = evs.submit(rid, "council-contact-centre", answers, evaluator="eve", now=NOW)
    assert old["form_ref"] == "council-contact-centre@1"

    second = lib.load(edited(example_form), actor="qa-lead")
    assert (second["version"], second["changed"]) == (2, True)
    new = evs.submit(rid, "council-contact-centre", answers, evaluator="eve", now=NOW)
    assert new["form_ref"] == "council-contact-centre@2"
    # the same answers score differently under each version's weights, and the old one stays
    assert old["score"] == approx2(10 * 0.5 + 20 + 25 + 30 / 3 + 15 * 0.5)
    assert new["score"] == approx2(10 * 0.5 + 20 + 25 + 20 / 3 + 25 * 0.5)
    assert evs.show(old["id"])["form_ref"] == "council-contact-centre@1"
    assert evs.show(old["id"])["score"] == old["score"]
    v1 = lib.show("council-contact-centre@1")["definition"]
    assert {s["id"]: s["weight"] for s in v1["sections"]}["resolution"] == 30
    pinned = evs.submit(rid, "council-contact-centre@1", answers, evaluator="eve")
    assert pinned["score"] == old["score"]
    [listed] = lib.list_forms()
    assert (listed["version"], listed["versions"], listed["evaluations"]) == (2, 2, 3)
    with pytest.raises(NotFoundError, match="council-contact-centre has no version 7"):
        lib.show("council-contact-centre@7")
    with pytest.raises(NotFoundError, match="no QA form 'nope'"):
        evs.submit(rid, "nope", answers, evaluator="eve")
    assert len(audit_events(services, "evaluation.form_load")) == 2


def test_submit_scores_pins_comments_and_audits_ids_only(
    services: Services, speech_call: Path, example_form: Form
) -> None:
    FormLibrary(services.catalogue).load(example_form, actor="qa-lead")
    evs = Evaluations(services.catalogue, clock=lambda: NOW)  # the audit log's clock too
    rid = ingest_call(services, speech_call, call_id="eval-1", agent="alice", service="waste")
    with services.catalogue.session() as s:
        duration = s.get(Recording, rid).duration_s  # type: ignore[union-attr]
    assert duration > 2
    answers = all_yes(example_form) | {
        "identity-third-party": "na",
        "dp-card-pause": "na",
        "notes-coaching": "Offer the online form next time.",
    }
    comments = [
        {"at": 0.5, "text": "Good greeting.", "question": "greeting-named"},
        {"at": duration, "text": "Closed politely."},
    ]
    view = evs.submit(rid, "council-contact-centre", answers, comments, evaluator="eve")
    assert view["score"] == 100.0 and view["scored"] and view["failed_on"] is None
    assert (view["staff"], view["service"], view["evaluator"]) == ("alice", "waste", "eve")
    assert view["evaluated_at"] == NOW.isoformat()
    assert [c["at"] for c in view["comments"]] == [0.5, duration]
    assert evs.for_recording(rid) == [evs.show(view["id"])]

    [event] = audit_events(services, "evaluation.submit")
    assert (event.actor, event.recording_id, event.at) == ("eve", rid, NOW)
    details = json.loads(event.details)
    assert details == {
        "evaluation_id": view["id"],
        "form": "council-contact-centre",
        "form_version": 1,
        "kind": "evaluation",
    }
    for personal in ("alice", "Good greeting", "online form", "100"):
        assert personal not in event.details

    failed = evs.submit(
        rid, "council-contact-centre", answers | {"dp-no-disclosure": "no"}, evaluator="eve"
    )
    assert (failed["score"], failed["failed_on"]) == (0.0, "dp-no-disclosure")
    with services.catalogue.session() as s:
        assert verify_chain(s).ok


def test_bad_submissions_store_nothing(
    services: Services, speech_call: Path, example_form: Form
) -> None:
    FormLibrary(services.catalogue).load(example_form, actor="qa-lead")
    evs = Evaluations(services.catalogue)
    rid = ingest_call(services, speech_call, call_id="bad-1", agent="alice")
    good = all_yes(example_form)
    with pytest.raises(AnswerError, match="outside the recording"):
        evs.submit(rid, "council-contact-centre", good, [{"at": 3600, "text": "x"}], evaluator="e")
    with pytest.raises(AnswerError, match=r"unanswered question\(s\) greeting-named"):
        evs.submit(rid, "council-contact-centre", {}, evaluator="eve")
    with pytest.raises(QualityError, match="alice is the staff member on this call"):
        evs.submit(rid, "council-contact-centre", good, evaluator="alice")
    with pytest.raises(NotFoundError, match="no recording 0000"):
        evs.submit("0000", "council-contact-centre", good, evaluator="eve")
    with services.catalogue.session() as s:
        s.execute(update(Recording).where(Recording.id == rid).values(state="destroyed"))
    with pytest.raises(QualityError, match="is destroyed; only a stored recording"):
        evs.submit(rid, "council-contact-centre", good, evaluator="eve")
    with services.catalogue.session() as s:
        assert s.scalar(select(func.count()).select_from(QaEvaluation)) == 0
    assert audit_events(services, "evaluation.submit") == []


def test_calibration_spread_from_the_catalogue(
    services: Services, speech_call: Path, example_form: Form
) -> None:
    FormLibrary(services.catalogue).load(example_form, actor="qa-lead")
    evs = Evaluations(services.catalogue)
    rid = ingest_call(services, speech_call, call_id="cal-1", started_at=NOW - timedelta(days=1))
    base = all_yes(example_form)
    panel = {
        "eve": base,
        "sam": base | {"resolution-resolved": "no", "courtesy-manner": 2},
        "kim": base | {"resolution-resolved": "no"},
    }
    # sam first scores it all yes, then changes their mind: only their latest one counts
    evs.submit(rid, "council-contact-centre", base, evaluator="sam", kind="calibration")
    for name, answers in panel.items():
        evs.submit(rid, "council-contact-centre", answers, evaluator=name, kind="calibration")
    out = evs.calibration(rid)
    assert out["form_ref"] == "council-contact-centre@1"
    o = out["overall"]
    assert o["evaluators"] == 3
    assert o["max"] == 100.0 and o["min"] == pytest.approx(100 - 30 / 3 - 15 * 0.75 / 2)
    assert out["questions"][0]["question"] == "resolution-resolved"
    assert out["questions"][0]["agreement"] == pytest.approx(2 / 3)
    # calibration runs are not counted in staff reports
    since, until = NOW - timedelta(days=30), NOW
    assert report(services.catalogue, by="staff", period="month", since=since, until=until) == []
    with pytest.raises(QualityError, match="no evaluations to compare"):
        evs.calibration(ingest_call(services, speech_call, call_id="cal-2"))


def test_reports_by_staff_and_service_across_a_month_end(
    services: Services, speech_call: Path, example_form: Form
) -> None:
    FormLibrary(services.catalogue).load(example_form, actor="qa-lead")
    evs = Evaluations(services.catalogue)
    calls = [  # (started_at, staff, service, scale answers)
        (datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC), "alice", "waste", 5),
        (datetime(2026, 2, 1, 0, 0, 0, tzinfo=UTC), "alice", "housing", 1),
        (datetime(2026, 2, 1, 9, 0, 0, tzinfo=UTC), "bob", "waste", 3),
        (datetime(2026, 3, 1, 0, 0, 0, tzinfo=UTC), "bob", "waste", 5),  # == until: left out
    ]
    for i, (at, staff, service, scale) in enumerate(calls):
        rid = ingest_call(
            services, speech_call, call_id=f"rep-{i}", agent=staff, service=service, started_at=at
        )
        evs.submit(rid, "council-contact-centre", all_yes(example_form, scale), evaluator="eve")
    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    low = 100 - (10 * 0.5 + 30 * (2 / 3) + 15 * 0.5)  # every scale answer 1
    mid = 100 - (10 * 0.25 + 30 * (1 / 3) + 15 * 0.25)  # every scale answer 3

    def rows(by: str, period: str) -> list[tuple[object, ...]]:
        got = report(services.catalogue, by=by, period=period, since=since, until=until)
        return [(r.group, r.period_start, r.evaluations, r.average_score) for r in got]

    assert rows("staff", "month") == [
        ("alice", date(2026, 1, 1), 1, 100.0),
        ("alice", date(2026, 2, 1), 1, round(low, 2)),
        ("bob", date(2026, 2, 1), 1, round(mid, 2)),
    ]
    assert rows("service", "week") == [  # Sat 31 Jan and Sun 1 Feb: the week of Mon 26 Jan
        ("housing", date(2026, 1, 26), 1, round(low, 2)),
        ("waste", date(2026, 1, 26), 2, round((100 + mid) / 2, 2)),
    ]
    # a supervisor of one service sees only evaluations of that service's calls
    scoped = report(
        services.catalogue, by="staff", period="month", since=since, until=until, services={"waste"}
    )
    assert [(r.group, r.evaluations) for r in scoped] == [("alice", 1), ("bob", 1)]
    assert (
        report(
            services.catalogue, by="staff", period="month", since=since, until=until, services=set()
        )
        == []
    )
    with pytest.raises(QualityError, match="is not before until"):
        report(services.catalogue, by="staff", period="week", since=until, until=since)
