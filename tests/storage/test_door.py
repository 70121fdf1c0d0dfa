"""Issue 8 items 1 and 8: every field checked at the door, one line naming it; no job strands
the others; a recorded SIP call with bad metadata is stored with the field marked invalid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callvault.wiring import Services
from storage.catalogue.models import AuditEvent, Recording
from storage.ingest import IngestRequest
from storage.retrieval import ListFilter
from telephony.handoff import Handoff
from tests.conftest import Backend
from tests.telephony.test_handoff import call_dir


def nothing_spooled(services: Services) -> bool:
    roots = [services.spool.jobs_dir, services.spool.root / "incoming"]
    return all(not r.exists() or not any(r.iterdir()) for r in roots)


def one_clear_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("flag", "value", "expect"),
    [
        ("--agent", "a" * 200, "agent: is 200 characters long; at most 120"),
        ("--service", "waste\nexported 1 to /etc/passwd", "service: contains U+000A"),
        ("--call-id", "x\x1b[2Kfake", "call id: contains U+001B"),
        ("--case-id", "C" * 121, "case id #1: is 121 characters long; at most 120"),
        ("--case-id", "C-1\u200b", "case id #1: contains U+200B"),
        ("--caller", "+44\x7f1277", "caller: contains U+007F"),
    ],
)
def test_bad_field_is_refused_before_spooling_with_one_line(
    backend: Backend, services: Services, speech_call: Path, flag: str, value: str, expect: str
) -> None:
    args = ["ingest", str(speech_call), flag, value]
    if flag != "--call-id":
        args += ["--call-id", "c1"]
    r = backend.cli(*args)
    assert r.returncode == 1
    line = one_clear_line(r.stderr)
    assert expect in line, line
    assert "\x1b" not in r.stderr and "\x7f" not in r.stderr and "/etc/passwd" not in r.stderr
    assert nothing_spooled(services)
    with services.catalogue.session() as s:
        assert s.scalar(select(func.count()).select_from(Recording)) == 0


def test_consent_json_depth_and_size_limits(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    r = backend.cli("ingest", str(speech_call), "--call-id", "c", "--consent", str(deep))
    assert r.returncode == 1 and "deep.json is larger than 65536 bytes" in one_clear_line(r.stderr)
    deep20k = tmp_path / "deep20k.json"  # under the size limit, far over Python's recursion
    deep20k.write_text("[" * 20_000 + "]" * 20_000)
    r = backend.cli("ingest", str(speech_call), "--call-id", "c", "--consent", str(deep20k))
    assert r.returncode == 1 and "nested" in one_clear_line(r.stderr)
    deep40 = tmp_path / "deep40.json"
    deep40.write_text('{"a":' * 40 + "1" + "}" * 40)
    r = backend.cli("ingest", str(speech_call), "--call-id", "c", "--consent", str(deep40))
    assert r.returncode == 1 and "is nested 33 deep; at most 32" in one_clear_line(r.stderr)
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"notes": "x" * 10_000_000}))
    r = backend.cli("ingest", str(speech_call), "--call-id", "c", "--consent", str(big))
    assert r.returncode == 1 and "larger than 65536 bytes" in one_clear_line(r.stderr)
    assert len(r.stderr) < 300  # not echoed
    assert nothing_spooled(services)


def test_one_bad_job_never_blocks_resume(
    backend: Backend, services: Services, speech_call: Path
) -> None:
    """A job an older version spooled with an over-long field (on PostgreSQL it used to fail
    with StringDataRightTruncation after the upload), a good one, and one killed half-way."""
    pipeline = services.pipeline()
    bad = pipeline.submit(speech_call, IngestRequest("bad-call"), actor="t")
    bad.manifest["request"]["agent"] = "a" * 200
    bad.save()
    pipeline.submit(speech_call, IngestRequest("good-call", service="waste"), actor="t")
    killed = pipeline.submit(speech_call, IngestRequest("killed-call"), actor="t")

    def die(state: str, job: object) -> None:
        if state == "probed":
            raise KeyboardInterrupt  # what a SIGKILL leaves: the job at "probed"

    with pytest.raises(KeyboardInterrupt):
        services.pipeline(on_step=die).process(killed.id)
    assert services.spool.load(killed.id).state == "probed"

    r = backend.cli("ingest", "--resume")
    assert r.returncode == 1, r.stderr  # non-zero, but only after finishing the others
    assert "ALARM quarantined" in r.stderr and "agent: is 200 characters long" in r.stderr
    assert "Traceback" not in r.stderr and "StringDataRightTruncation" not in r.stderr
    stored = {v["call_id"] for v in services.recordings().list(ListFilter())}
    assert stored == {"good-call", "killed-call"}
    assert services.spool.pending() == []
    sealed = services.pipeline().quarantine.entries("quarantine")
    assert [e["id"] for e in sealed] == [bad.id]
    assert sealed[0]["reason"].startswith("agent: is 200 characters long")
    entry = services.spool.quarantine_dir / bad.id
    for p in entry.iterdir():  # no audio or manifest in clear
        assert p.name == "index.json" or p.suffix == ".enc"
        assert b"RIFF" not in p.read_bytes() and b"bad-call" not in p.read_bytes()
    # The cause fixed, the job comes back and is stored.
    restored = services.pipeline().quarantine.restore("quarantine", bad.id, services.spool.jobs_dir)
    job = services.spool.load(restored.name)
    job.manifest["request"]["agent"] = "desk 4"
    job.save()
    assert backend.cli("ingest", "--resume").returncode == 0
    assert len(services.recordings().list(ListFilter())) == 3


def test_sip_call_with_bad_metadata_is_stored_with_the_field_marked(
    backend: Backend, services: Services
) -> None:
    flow = "33333333-3333-4333-8333-333333333333"
    d = call_dir(services.spool.calls_dir, flow, 2.0)
    meta = json.loads((d / "call.json").read_text())
    meta["case_ids"] = ["X" * 200, "OK-1", "bell\x07"]  # an X-Case-ID over the limit, odd ones
    meta["service"] = "waste\r\n"
    (d / "call.json").write_text(json.dumps(meta))
    results = Handoff(services.pipeline()).recover()
    assert [r.kind for r in results] == ["recording"], results
    assert results[0].ingest is not None and results[0].ingest.state == "stored"
    r = backend.cli("recordings", "show", flow, "--json", check=True)
    view = json.loads(r.stdout)
    assert view["case_ids"] == ["OK-1"] and view["service"] is None
    assert view["invalid_fields"] == ["service", "case_ids"]
    assert view["consent"]["recorded"] is True  # the consent record is stored with it
    human = backend.cli("recordings", "show", flow, check=True).stdout
    assert "invalid_fields" in human and "case_ids" in human
    with services.catalogue.session() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "recording.ingest")).one()
        assert json.loads(ev.details)["invalid_fields"] == ["service", "case_ids"]
    assert not d.exists() and services.spool.pending() == []


def test_whitespace_or_invisible_reasons_are_refused(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    rid = services.pipeline().ingest(speech_call, IngestRequest("c"), actor="t").recording_id
    for reason in ("   ", "\u200b", "\u200b \u2060\t"):
        r = backend.cli(
            "recordings", "export", rid, "--out", str(tmp_path / "o.wav"), "--reason", reason
        )
        assert r.returncode == 1 and "reason" in one_clear_line(r.stderr)
        r = backend.cli("hold", "add", "--reference", "H-1", "--reason", reason, "--recording", rid)
        assert r.returncode in (1, 2) and "reason" in one_clear_line(r.stderr)
        r = backend.cli("objections", "add", "+441277000013", "--reason", reason)
        assert r.returncode == 1 and "reason" in one_clear_line(r.stderr)
        r = backend.cli("recordings", "tag", rid, "--case-id", reason)
        assert r.returncode == 1 and "case id" in one_clear_line(r.stderr)
    assert not (tmp_path / "o.wav").exists()


def test_startup_recovery_of_agent_and_serve_never_stops_on_a_bad_job(
    backend: Backend, services: Services, speech_call: Path
) -> None:
    """`callvault agent` and `serve` run this at start-up: a bad job must not stop them."""
    from callvault.agent_runner import recover_spool
    from callvault.jobs import scheduled_resume

    job = services.pipeline().submit(speech_call, IngestRequest("stuck"), actor="t")
    job.manifest["request"]["service"] = "s" * 500
    job.save()
    broken = call_dir(services.spool.calls_dir, "55555555-5555-4555-8555-555555555555", 2.0)
    (broken / "staff.wav").write_bytes(b"not a wav at all")
    good = services.pipeline().submit(speech_call, IngestRequest("fine"), actor="t")
    lines = recover_spool(services)
    text = "\n".join(lines)
    assert f"resumed job {good.id}: stored" in text
    assert f"resumed job {job.id}: quarantined" in text and "failed: " in text
    assert services.spool.pending() == [] and not broken.exists()
    assert scheduled_resume(str(backend.config)) == "spool resume: empty"
