"""Destroying a recording (the real retention purge) takes the QA text that may describe the
call with it, and keeps the scores (they concern the staff member)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from callvault.wiring import Services
from quality.definition import Form
from quality.evaluations import Evaluations
from quality.library import FormLibrary
from storage.catalogue.models import QaComment, QaEvaluation, Recording
from tests.conftest import Backend
from tests.quality.conftest import all_yes, ingest_call
from tests.retention_jobs.conftest import T0, set_policy


def test_purge_removes_comments_and_free_text_but_keeps_the_score(
    backend: Backend, speech_call: Path, example_form: Form
) -> None:
    set_policy(backend)  # standard class: 90 days
    svc = Services.build(backend.settings)
    try:
        svc.init()
        FormLibrary(svc.catalogue).load(example_form, actor="qa-lead")
        evs = Evaluations(svc.catalogue)
        old = ingest_call(svc, speech_call, call_id="old-1", started_at=T0)
        new = ingest_call(svc, speech_call, call_id="new-1", started_at=T0 + timedelta(days=60))
        answers = all_yes(example_form) | {"notes-coaching": "Caller said she lives at No. 4"}
        said = [{"at": 1.0, "text": "caller gave her address"}]
        gone = evs.submit(old, "council-contact-centre", answers, said, evaluator="eve")
        kept = evs.submit(new, "council-contact-centre", answers, said, evaluator="eve")
        assert gone["answers"]["notes-coaching"].startswith("Caller said")

        report = svc.purger().run(now=T0 + timedelta(days=91), actor="retention")
        assert [d["recording_id"] for d in report.destroyed] == [old]

        after = evs.show(gone["id"])
        assert after["comments"] == [] and "notes-coaching" not in after["answers"]
        assert (after["score"], after["staff"], after["form_ref"]) == (
            gone["score"],
            "alice",
            "council-contact-centre@1",
        )
        assert evs.show(kept["id"]) == {k: v for k, v in kept.items() if k != "sections"}
        with svc.catalogue.session() as s:
            assert s.get(Recording, old).state == "destroyed"  # type: ignore[union-attr]
            left = s.scalar(select(func.count()).select_from(QaComment))
            assert left == 1  # the kept recording's comment
            notes = s.scalar(select(QaEvaluation.notes).where(QaEvaluation.id == gone["id"]))
            assert notes is None
    finally:
        svc.close()
