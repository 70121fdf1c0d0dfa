"""Legal holds: held recordings survive every purge; release, then the next run destroys."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from callvault.wiring import Services
from retention_jobs.errors import HoldError
from storage.catalogue.models import AuditEvent
from tests.conftest import Backend
from tests.retention_jobs.conftest import T0, audit_ok, make_recordings, rows, versions

LATER = T0 + timedelta(days=400)  # every standard-class recording made at T0 has expired


def test_held_by_recording_and_by_case_survive_then_release_destroys(
    backend: Backend, rsvc: Services, tmp_path: Path
) -> None:
    a, b, c = make_recordings(rsvc, 3, tmp=tmp_path)
    (tagged,) = make_recordings(rsvc, 1, tmp=tmp_path, case_ids=["CASE-9"])
    later = make_recordings(rsvc, 1, tmp=tmp_path)[0]
    backend.cli(
        "hold",
        "add",
        "--reference",
        "LIT-1",
        "--reason",
        "claim v council",
        "--recording",
        a.id,
        check=True,
    )
    out = backend.cli(
        "hold",
        "add",
        "--reference",
        "LIT-2",
        "--reason",
        "ombudsman",
        "--case-id",
        "CASE-9",
        "--json",
        check=True,
    )
    assert json.loads(out.stdout)["covered_recordings"] == [tagged.id]
    rsvc.recordings().tag(later.id, "CASE-9", actor="t")  # tagged after the hold: covered too

    report = rsvc.purger().run(now=LATER, actor="t")
    assert sorted(d["recording_id"] for d in report.destroyed) == sorted([b.id, c.id])
    assert {d["recording_id"]: d["holds"] for d in report.held} == {
        a.id: ["LIT-1"],
        tagged.id: ["LIT-2"],
        later.id: ["LIT-2"],
    }
    assert all(versions(rsvc, m.object_key) for m in (a, tagged, later))
    assert rsvc.purger().run(now=LATER, actor="t").destroyed == []  # still held

    rel = backend.cli(
        "hold", "release", "LIT-2", "--reason", "ombudsman closed the case", "--json", check=True
    )
    assert sorted(json.loads(rel.stdout)["expired_now_unheld"]) == sorted([tagged.id, later.id])
    report = rsvc.purger().run(now=LATER, actor="t")
    assert sorted(d["recording_id"] for d in report.destroyed) == sorted([tagged.id, later.id])
    assert [d["recording_id"] for d in report.held] == [a.id]
    backend.cli("hold", "release", "LIT-1", check=True)
    assert [d["recording_id"] for d in rsvc.purger().run(now=LATER, actor="t").destroyed] == [a.id]
    assert {r.state for r in rows(rsvc, [a.id, b.id, c.id, tagged.id, later.id]).values()} == {
        "destroyed"
    }

    with rsvc.catalogue.session() as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.action.like("hold.%")).order_by(AuditEvent.seq)
        ).all()
    assert [e.action for e in events] == ["hold.add", "hold.add", "hold.release", "hold.release"]
    assert "claim v council" in events[0].details and "ombudsman" in events[1].details
    assert "ombudsman closed the case" in events[2].details
    assert events[0].recording_id == a.id
    assert audit_ok(rsvc)


def test_overlapping_holds_all_must_be_released(
    backend: Backend, rsvc: Services, tmp_path: Path
) -> None:
    (m,) = make_recordings(rsvc, 1, tmp=tmp_path, case_ids=["COMP-1"])  # complaint: 2 years
    holds = rsvc.holds()
    holds.add("H-1", "first", actor="t", recordings=[m.id])
    holds.add("H-2", "second", actor="t", case_ids=["COMP-1"])
    far = T0 + timedelta(days=3 * 365)
    holds.release("H-1", actor="t")
    assert rsvc.purger().run(now=far, actor="t").destroyed == []
    view = holds.release("H-2", actor="t", now=far)
    assert view["expired_now_unheld"] == [m.id]
    assert len(rsvc.purger().run(now=far, actor="t").destroyed) == 1


def test_hold_errors_are_clear(backend: Backend, rsvc: Services, tmp_path: Path) -> None:
    (m,) = make_recordings(rsvc, 1, tmp=tmp_path)
    holds = rsvc.holds()
    holds.add("H-1", "why", actor="t", recordings=[m.id])
    with pytest.raises(HoldError, match="hold H-1 already exists \\(active\\)"):
        holds.add("H-1", "again", actor="t", recordings=[m.id])
    with pytest.raises(HoldError, match="no recording with id 'nope'"):
        holds.add("H-2", "why", actor="t", recordings=["nope"])
    with pytest.raises(HoldError, match="no hold with reference 'H-9'"):
        holds.release("H-9", actor="t")
    holds.release("H-1", actor="t")
    with pytest.raises(HoldError, match="hold H-1 was already released at"):
        holds.release("H-1", actor="t")
    rsvc.purger().run(now=LATER, actor="t")
    with pytest.raises(HoldError, match=f"recording {m.id} is destroyed .*can no longer be held"):
        holds.add("H-3", "too late", actor="t", recordings=[m.id])
    r = backend.cli("hold", "add", "--reference", "H-4", "--reason", " ", "--recording", m.id)
    assert r.returncode == 1 and "hold reason" in r.stderr
    r = backend.cli("hold", "add", "--reference", "H-5", "--reason", "x")
    assert r.returncode == 2  # usage: one of --recording / --case-id is required
    listed = json.loads(backend.cli("hold", "list", "--all", "--json", check=True).stdout)
    assert [h["reference"] for h in listed] == ["H-1"] and not listed[0]["active"]
