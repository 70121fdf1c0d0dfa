"""The disclosure register, restriction and rectification as a DPO uses them: the installed
`callvault` on both backends (SQLite + directory, PostgreSQL + S3), the packages decoded with
real tools (zipfile, sha256sum, ffmpeg), the audit chain checked. Secondary checks call the
domain in-process: each CLI process costs seconds on a loaded machine."""

from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callvault.wiring import Services
from consent.disclosures import DisclosureError, DisclosureRequest, Disclosures, list_disclosures
from consent.rectification import Change, RectificationError, rectify
from consent.restriction import RestrictionError, lift, restrict
from quality.definition import load_form_file
from storage.catalogue.models import AuditEvent, Rectification
from storage.ingest import IngestRequest
from tests.conftest import Backend
from tests.quality.conftest import EXAMPLE, all_yes
from tests.retention_jobs.conftest import audit_ok

FAR_FUTURE = "2100-01-01T00:00:00"


def ingest(svc: Services, audio: Path, call_id: str, service: str, *cases: str) -> str:
    req = IngestRequest(call_id=call_id, service=service, agent="alex", case_ids=cases)
    result = svc.pipeline().ingest(audio, req, actor="sip-agent")
    assert result.state == "stored", result.message
    return result.recording_id


def run_json(backend: Backend, *args: str) -> Any:
    r = backend.cli(*args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def fails(backend: Backend, code: int, *args: str) -> str:
    r = backend.cli(*args)
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def actions(svc: Services, action: str) -> list[tuple[str | None, dict[str, Any]]]:
    """(recording id, details) of each audit event of that action, oldest first."""
    with svc.catalogue.session() as s:
        stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        return [(e.recording_id, json.loads(e.details)) for e in s.scalars(stmt)]


def test_disclosure_package_register_and_audit(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    a = ingest(services, speech_call, "call-a", "waste", "POL-1")
    b = ingest(services, speech_call, "call-b", "housing", "POL-1", "HOUS-3")
    ingest(services, speech_call, "call-c", "waste", "OTHER-1")
    out = tmp_path / "essex-police.zip"
    view = run_json(
        backend,
        *("disclosures", "add", "--recipient", "Essex Police", "--kind", "police"),
        *("--basis", "DPA 2018 Schedule 2 paragraph 2", "--reference", "EP/2026/1"),
        *("--reason", "threats made during the calls", "--case-id", "POL-1"),
        *("--out", str(out)),
    )
    assert sorted(view["recording_ids"]) == sorted([a, b])
    assert view["package_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert out.stat().st_mode & 0o077 == 0

    with zipfile.ZipFile(out) as z:
        assert z.testzip() is None
        z.extractall(tmp_path / "x")
        manifest = z.read("manifest.json")
    assert hashlib.sha256(manifest).hexdigest() == view["manifest_sha256"]
    doc = json.loads(manifest)
    assert doc["disclosure"]["basis"] == "DPA 2018 Schedule 2 paragraph 2"
    assert {f["recording_id"] for f in doc["files"]} == {a, b}
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path / "x", capture_output=True, text=True
    )
    assert check.returncode == 0 and check.stdout.count(": OK") == 3, check.stdout
    duration = services.recordings().show(a)["duration_s"]
    for f in doc["files"]:
        path = tmp_path / "x" / f["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == f["sha256"]
        pcm = subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-i",
                str(path),
                "-ac",
                "2",
                "-ar",
                "8000",
                "-f",
                "s16le",
                "-",
            ],
            capture_output=True,
            check=True,
        ).stdout
        assert abs(len(pcm) / (8000 * 2 * 2) - duration) < 0.5

    [listed] = run_json(backend, "disclosures", "list")
    assert listed["id"] == view["id"] and listed["recipient"] == "Essex Police"
    human = backend.cli("disclosures", "list", check=True).stdout
    assert "Essex Police" in human and "EP/2026/1" in human
    with services.catalogue.session() as s:
        assert list_disclosures(s, recording_id=b) == [listed]
        assert list_disclosures(s, recipient="essex police") == [listed]
        assert list_disclosures(s, recipient="Kent Police") == []
    events = actions(services, "disclosure.add")
    assert sorted(rid or "" for rid, _ in events) == sorted([a, b])
    assert all(details["disclosure_id"] == view["id"] for _, details in events)

    base = ["disclosures", "add", "--recipient", "X", "--kind", "court", "--basis", "b"]
    base += ["--reference", "R", "--reason", "r"]
    assert "already exists" in fails(backend, 1, *base, "--recording", a, "--out", str(out))
    assert "--recording ID or --case-id" in fails(backend, 2, *base, "--out", "n.zip")
    register = Disclosures(services.catalogue, services.recordings())
    req = DisclosureRequest("X", "court", "b", "R", "r", ["nope"])
    with pytest.raises(DisclosureError, match="no recording with id 'nope'"):
        register.add(req, tmp_path / "n.zip", actor="t")
    with pytest.raises(DisclosureError, match=r"end the name in \.zip"):
        register.add(
            DisclosureRequest("X", "court", "b", "R", "r", [a]), tmp_path / "p.tar", actor="t"
        )
    assert not (tmp_path / "n.zip").exists() and not (tmp_path / "p.tar").exists()
    assert len(register.list()) == 1
    assert audit_ok(services)


def test_restriction_keeps_from_purge_and_evaluation_until_lifted(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    kept = ingest(services, speech_call, "call-kept", "waste")
    other = ingest(services, speech_call, "call-other", "waste")
    r = backend.cli("recordings", "restrict", kept, "--reason", "the caller's legal claim")
    assert r.returncode == 0 and "restricted" in r.stdout, r.stderr
    with services.catalogue.session() as s:
        assert restrict(s, [kept], actor="dpo", reason="twice") == []  # already restricted
        with pytest.raises(RestrictionError, match=f"recording {other} is not restricted"):
            lift(s, [other], actor="dpo", reason="x")
    flags = {v["id"]: v["restricted"] for v in run_json(backend, "recordings", "list")}
    assert flags == {kept: True, other: False}

    backend.cli("qa", "forms", "load", str(EXAMPLE), check=True)
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"answers": all_yes(load_form_file(EXAMPLE))}))
    qa = ["--form", "council-contact-centre", "--answers", str(answers)]
    refused = fails(backend, 1, "qa", "evaluate", kept, *qa)
    assert f"recording {kept} is restricted" in refused and "cannot be evaluated" in refused

    dry = run_json(backend, "retention", "run", "--dry-run", "--now", FAR_FUTURE)
    assert [d["recording_id"] for d in dry["would_destroy"]] == [other]
    [why] = dry["restricted"]
    assert why["recording_id"] == kept and "restricted" in why["reason"]
    done = run_json(backend, "retention", "run", "--now", FAR_FUTURE)
    assert [d["recording_id"] for d in done["destroyed"]] == [other]
    assert [d["recording_id"] for d in done["restricted"]] == [kept]
    assert run_json(backend, "recordings", "show", kept)["restricted"] is True

    lifted = run_json(backend, "recordings", "unrestrict", kept, "--reason", "claim settled")
    assert lifted == {"lifted": [kept]}
    done = run_json(backend, "retention", "run", "--now", FAR_FUTURE)
    assert [d["recording_id"] for d in done["destroyed"]] == [kept]
    restricted, unrestricted = (
        actions(services, a) for a in ("recording.restrict", "recording.unrestrict")
    )
    assert [rid for rid, _ in restricted] == [kept]
    assert (
        unrestricted == [(kept, unrestricted[0][1])]
        and unrestricted[0][1]["reason"] == "claim settled"
    )
    assert audit_ok(services)


def test_rectification_history_is_append_only_and_shown(
    backend: Backend, services: Services, speech_call: Path
) -> None:
    rid = ingest(services, speech_call, "call-r", "housing", "HOUS-1")
    before = services.recordings().show(rid)
    first = run_json(
        backend, "recordings", "rectify", rid, "--service", "waste", "--reason", "wrong queue"
    )
    assert first["service"] == "waste"
    [h1] = first["rectifications"]
    assert (h1["field"], h1["old_value"], h1["new_value"]) == ("service", "housing", "waste")
    second = run_json(
        backend,
        *("recordings", "rectify", rid, "--add-case-id", "C-2"),
        *("--statement", "The caller says the address given is wrong.", "--reason", "caller asked"),
    )
    assert second["rectifications"][0] == h1  # earlier entries never change
    assert [(h["field"], h["change"]) for h in second["rectifications"]] == [
        ("service", "set"),
        ("case_id", "add"),
        ("statement", "statement"),
    ]
    services.holds().add("LIT-9", "claim", actor="t", case_ids=["C-2"])
    held = fails(
        backend, 1, "recordings", "rectify", rid, "--remove-case-id", "C-2", "--reason", "r"
    )
    assert "legal hold LIT-9" in held
    assert "say what to correct" in fails(backend, 1, "recordings", "rectify", rid, "--reason", "r")
    with services.catalogue.session() as s:
        with pytest.raises(RectificationError, match="already has service 'waste'"):
            rectify(s, rid, [Change("service", "waste")], actor="t", reason="r")
        rectify(s, rid, [Change("remove-case-id", "HOUS-1")], actor="t", reason="typo")
    third = run_json(backend, "recordings", "show", rid)
    assert third["case_ids"] == ["C-2"] and len(third["rectifications"]) == 4
    assert third["rectifications"][:3] == second["rectifications"]
    assert third["sha256_plaintext"] == before["sha256_plaintext"]  # the audio never changes
    with services.catalogue.session() as s:
        rows = list(s.scalars(select(Rectification).order_by(Rectification.id)))
        assert [r.field for r in rows] == ["service", "case_id", "statement", "case_id"]
    logged = actions(services, "recording.rectify")
    assert len(logged) == 4
    # The statement may describe the caller: the log records that there is one, not its text.
    assert all("address" not in json.dumps(details) for _, details in logged)
    assert audit_ok(services)
