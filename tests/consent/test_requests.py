"""Data-subject requests on both backends: the CLI flow of an access request from a caller who
gives only their number (in another spelling), the pack decoded, the two-person erasure, the
objection and the daily due check."""

from __future__ import annotations

import hashlib
import json
import wave
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from callvault.jobs import scheduled_requests_due
from callvault.settings import load_settings
from callvault.wiring import Services
from consent import restriction
from consent.disclosures import DisclosureRequest, Disclosures
from consent.do_not_record import DoNotRecordList
from consent.erasure import ErasureError
from consent.records import store_consent_only
from consent.requests import Identifiers, RequestError
from consent.requests_due import due_check
from consent.requests_objection import act_on_objection
from consent.requests_restriction import restrict_for_request
from consent.requests_show import describe
from retention_jobs.holds import holds_for
from storage.audit import verify_chain
from storage.catalogue.models import (
    AuditEvent,
    DestructionRecord,
    OutboxEvent,
    Recording,
    RecordingKey,
)
from storage.request import IngestRequest
from tests.callvault.test_cli_progress import on_a_terminal
from tests.conftest import Backend, write_config

NUMBER = "01277 312500"  # as stored with the calls
SPELLING = "+44 (1277) 312-500"  # as the caller gives it on the request form


@pytest.fixture
def svc(backend: Backend) -> Iterator[Services]:
    s = Services.build(backend.settings)
    s.init()
    yield s
    s.close()


def ingest(svc: Services, path: Path, call_id: str, **kw: object) -> str:
    req = IngestRequest(call_id=call_id, **kw)  # type: ignore[arg-type]
    result = svc.pipeline().ingest(path, req, actor="tester")
    assert result.state == "stored", result.message
    return result.recording_id


def read_wav(data: bytes, path: Path) -> tuple[np.ndarray, int, int]:
    path.write_bytes(data)
    with wave.open(str(path)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
        return pcm.reshape(-1, w.getnchannels()), w.getnchannels(), w.getframerate()


def envelope(x: np.ndarray, rate: int) -> np.ndarray:
    n = rate // 50  # RMS per 20 ms: who spoke when
    return np.sqrt((x[: len(x) // n * n].reshape(-1, n) ** 2).mean(axis=1))


def corr(a: np.ndarray, b: np.ndarray) -> float:
    m = min(len(a), len(b))
    return float(np.corrcoef(a[:m], b[:m])[0, 1])


def test_access_request_from_the_cli_and_its_pack(
    backend: Backend, svc: Services, speech_call: Path, tmp_path: Path
) -> None:
    consent = {"outcome": "recorded", "notice": {"id": "main", "version": "3"}}
    mine = ingest(svc, speech_call, "call-a", caller=NUMBER, case_ids=("HOU-7",), consent=consent)
    other = ingest(svc, speech_call, "call-b", caller="01277 999999")
    unrecorded = store_consent_only(
        svc.catalogue,
        "call-c",
        {"call_id": "call-c", "outcome": "objected", "recorded": False},
        actor="sip-agent",
        caller_hash=svc.hasher.hash_or_none(NUMBER),
    )
    Disclosures(svc.catalogue, svc.recordings()).add(
        DisclosureRequest(
            "Essex Police", "police", "DPA 2018 sch. 2", "EP-41", "an inquiry", [mine]
        ),
        tmp_path / "police.zip",
        actor="dpo",
    )

    opened = json.loads(
        backend.cli(
            "requests", "open", "--kind", "access", "--caller", SPELLING,
            "--received", "2026-01-31", "--json", check=True,
        ).stdout
    )  # fmt: skip
    rid = opened["id"]
    assert (opened["state"], opened["received"], opened["due"]) == (
        "received", "2026-01-31", "2026-02-28"
    )  # fmt: skip
    assert SPELLING not in json.dumps(opened) and "312500" not in json.dumps(opened)

    early = backend.cli("requests", "pack", rid, "--out", str(tmp_path / "early.zip"))
    assert (
        early.returncode == 1 and "verify" in early.stderr and not (tmp_path / "early.zip").exists()
    )
    backend.cli("requests", "verify", rid, "--how", "council tax account and address", check=True)
    both = backend.cli("requests", "pack", rid, "--out", str(tmp_path / "b.zip"), "--both-channels")
    assert both.returncode == 1 and "--reason" in both.stderr

    out = tmp_path / "pack.zip"
    made = json.loads(
        backend.cli("requests", "pack", rid, "--out", str(out), "--json", check=True).stdout
    )
    assert made["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        files = {n: z.read(n) for n in names}
    assert not any(other in n for n in names)  # another caller's call is not in it
    assert f"recordings/{mine}/caller.wav" in names
    assert not any("/call." in n for n in names)  # both channels only by a decision
    for line in files["SHA256SUMS"].decode().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256(files[name]).hexdigest() == digest, name

    # The caller's voice, and only theirs: the left channel of the source, by envelope.
    pcm, channels, rate = read_wav(files[f"recordings/{mine}/caller.wav"], tmp_path / "c.wav")
    src, _, src_rate = read_wav(speech_call.read_bytes(), tmp_path / "s.wav")
    assert channels == 1 and rate == src_rate
    caller_env, staff_env = envelope(src[:, 0], rate), envelope(src[:, 1], rate)
    got = envelope(pcm[:, 0], rate)
    assert corr(got, caller_env) > 0.95
    assert corr(got, staff_env) < 0.5

    meta = json.loads(files[f"recordings/{mine}/recording.json"])
    assert meta["status"] == "stored" and meta["case_ids"] == ["HOU-7"]
    assert meta["consent"][0]["notice"] == {"id": "main", "version": "3"}
    assert meta["retention_class"] and meta["expires_at"]
    assert "agent" not in meta and "caller_hash" not in meta
    data = json.loads(files["data.json"])
    assert data["schema"] == "callvault-subject-pack/1"
    assert [c["consent_record_id"] for c in data["consent_only"]] == [unrecorded]
    assert data["consent_only"][0]["document"]["outcome"] == "objected"
    assert [d["recipient"] for d in data["disclosures"]] == ["Essex Police"]
    assert meta["disclosures"] == [data["disclosures"][0]["id"]]
    cover = files["README.txt"].decode()
    assert "No automated decisions" in cover and "2026-02-28" in cover and "ico.org.uk" in cover
    assert "consent-only" in files["index.csv"].decode()

    with svc.catalogue.session() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "request.pack")).one()
        details = json.loads(ev.details)
        assert details["sha256"] == made["sha256"] and details["both_channels"] is False
        assert f"recordings/{mine}/caller.wav" in [name for name, _ in details["contents"]]
        assert verify_chain(s).ok

    # On a terminal the pack shows a progress bar on stderr (and stdout stays clean).
    tty_zip = str(tmp_path / "t.zip")
    args = ("--config", str(backend.config), "requests", "pack", rid, "--out", tty_zip)
    code, said, terminal = on_a_terminal(tmp_path, *args)
    assert code == 0 and f"pack {rid}" in terminal and "1/1" in terminal, terminal
    assert f"pack {rid}" not in said and (tmp_path / "t.zip").exists()

    listed = json.loads(backend.cli("requests", "list", "--json", check=True).stdout)
    assert [r["id"] for r in listed] == [rid] and listed[0]["state"] == "in-progress"
    due = backend.cli("requests", "list", "--due-within", "7d", check=True).stdout
    assert rid in due and "OVERDUE" in due  # received 31 January 2026, long past due
    bad = backend.cli("requests", "list", "--due-within", "soon")
    assert bad.returncode == 2 and "'soon' is not a number of days" in bad.stderr


def test_erasure_needs_a_second_dpo_spares_held_recordings_and_can_be_partial(
    svc: Services, speech_call: Path
) -> None:
    a, b, c = (ingest(svc, speech_call, f"call-{n}", caller=NUMBER) for n in "abc")
    svc.holds().add("LIT-9", "a claim is pending", actor="legal", recordings=[b])
    requests = svc.subject_requests()
    r = requests.open("erasure", Identifiers(callers=[SPELLING]), actor="alice")["id"]
    erasure = svc.erasure()
    with pytest.raises(RequestError, match="not verified"):
        erasure.propose(r, reason="the caller asked", actor="alice")
    requests.verify(r, how="passport seen at the counter", actor="alice")

    proposed = {
        d["recording_id"]: d for d in erasure.propose(r, reason="asked", actor="alice")["decisions"]
    }
    assert proposed[b]["state"] == "refused" and "LIT-9" in proposed[b]["detail"]
    assert (proposed[a]["state"], proposed[c]["state"]) == ("proposed", "proposed")
    with pytest.raises(ErasureError, match="alice proposed this erasure and cannot also approve"):
        erasure.approve(r, approver="alice")

    first = erasure.approve(r, approver="bob", recording_ids=[a])  # part of it
    assert first["erased"] == [a]
    rest = {d["recording_id"]: d["state"] for d in first["decisions"]}
    assert rest == {a: "erased", b: "refused", c: "proposed"}
    assert erasure.approve(r, approver="carol")["erased"] == [c]

    for rid in (a, c):
        with svc.catalogue.session() as s:
            rec = s.get(Recording, rid)
            assert rec is not None and rec.state == "destroyed" and rec.caller_hash is None
            assert svc.store.versions(rec.object_key) == []
            assert s.get(RecordingKey, rid) is None
            dr = s.scalars(
                select(DestructionRecord).where(DestructionRecord.recording_id == rid)
            ).one()
            assert dr.request_id == r and dr.key_destroyed and dr.versions_removed >= 1
    with svc.catalogue.session() as s:
        held = s.get(Recording, b)
        assert held is not None and held.state == "stored" and s.get(RecordingKey, b) is not None
        assert verify_chain(s).ok
    shown = {x["id"]: x for x in describe(requests, r, holds_for)["recordings"]}
    assert shown[a]["status"] == "destroyed" and shown[a]["destroyed_by"] == f"erasure request {r}"
    assert shown[b]["status"] == "held" and shown[b]["holds"] == ["LIT-9"]


def test_objection_stops_recording_and_lists_recordings_to_decide(
    svc: Services, speech_call: Path
) -> None:
    a = ingest(svc, speech_call, "call-a", caller=NUMBER)
    requests = svc.subject_requests()
    r = requests.open("objection", Identifiers(callers=[SPELLING]), actor="alice")["id"]
    requests.verify(r, how="called back on the number", actor="alice")
    out = act_on_objection(requests, r, actor="alice", holds_of=holds_for)
    assert out["do_not_record_added"] == 1 and [x["id"] for x in out["recordings"]] == [a]
    assert out["recordings"][0]["decision"] is None
    assert DoNotRecordList(svc.catalogue, svc.hasher).contains("01277312500")
    kept = svc.erasure().keep(r, reason="evidence of a complaint", actor="alice")
    assert [(d["decision"], d["state"]) for d in kept["decisions"]] == [("keep", "kept")]
    again = act_on_objection(requests, r, actor="alice", holds_of=holds_for)
    assert (again["do_not_record_added"], again["already_on_the_list"]) == (0, 1)


def test_due_check_logs_and_announces_due_and_overdue(
    backend: Backend, svc: Services, caplog: pytest.LogCaptureFixture
) -> None:
    at = datetime(2026, 2, 1, 9, tzinfo=UTC)
    requests = svc.subject_requests(clock=lambda: at)
    r = requests.open(
        "access", Identifiers(case_ids=["HOU-1"]), actor="alice", received=date(2026, 1, 31)
    )["id"]
    assert due_check(requests, now=datetime(2026, 2, 10, tzinfo=UTC)) == []
    with caplog.at_level("WARNING", logger="consent.requests_due"):
        due = due_check(requests, now=datetime(2026, 3, 2, tzinfo=UTC))
    assert [(v["id"], v["due"], v["overdue"]) for v in due] == [(r, "2026-02-28", True)]
    assert f"request {r} (access, received) OVERDUE by 2 day(s) on 2026-02-28" in caplog.text
    with svc.catalogue.session() as s:
        ev = s.scalars(select(OutboxEvent).where(OutboxEvent.type == "request.due")).one()
        assert json.loads(ev.payload) == {"request_id": r, "due": "2026-02-28", "overdue": True}
    # The scheduled job, as `serve` runs it (today's date: the request is long overdue).
    assert "1 overdue" in scheduled_requests_due(str(backend.config))


def test_restriction_request_restricts_what_it_finds_and_the_pack_says_so(
    svc: Services, speech_call: Path
) -> None:
    a = ingest(svc, speech_call, "call-a", caller=NUMBER)
    requests = svc.subject_requests()
    r = requests.open("restriction", Identifiers(callers=[SPELLING]), actor="alice")["id"]
    requests.verify(r, how="signed letter", actor="alice")
    out = restrict_for_request(requests, r, reason="a legal claim", actor="alice")
    assert (out["restricted"], out["already_restricted"]) == ([a], [])
    with svc.catalogue.session() as s:
        row = restriction.active(s, a)
        assert row is not None and row.request_id == r
    access = requests.open("access", Identifiers(callers=[NUMBER]), actor="alice")["id"]
    requests.verify(access, how="signed letter", actor="alice")
    plan = svc.packs().plan(access, actor="alice")
    assert [(d["id"], d["status"]) for d in plan.recordings] == [(a, "restricted")]
    assert requests.show(r)["state"] == "in-progress"


def test_pack_of_opus_audio_caller_only_and_both_channels_by_decision(
    tmp_path: Path, speech_call: Path
) -> None:
    config = write_config(tmp_path, '[audio]\ncompress = "at-ingest"\n')
    svc = Services.build(load_settings(config, environ={}))
    svc.init()
    try:
        rec = ingest(svc, speech_call, "call-a", caller=NUMBER)
        with svc.catalogue.session() as s:
            row = s.get(Recording, rec)
            assert row is not None and row.format == "opus"
            stored_sha = row.sha256_plaintext
        requests = svc.subject_requests()
        r = requests.open("portability", Identifiers(callers=[SPELLING]), actor="alice")["id"]
        requests.verify(r, how="passport", actor="alice")
        packs = svc.packs()
        caller = packs.write(packs.plan(r, actor="alice"), tmp_path / "caller.zip")
        assert f"recordings/{rec}/caller.ogg" in caller["files"]
        with zipfile.ZipFile(tmp_path / "caller.zip") as z:
            (tmp_path / "c.ogg").write_bytes(z.read(f"recordings/{rec}/caller.ogg"))
        assert svc.audio.probe(tmp_path / "c.ogg").channels == 1  # the caller's side alone

        plan = packs.plan(r, actor="alice", both_channels=True, reason="the officer agreed")
        both = packs.write(plan, tmp_path / "both.zip")
        with zipfile.ZipFile(tmp_path / "both.zip") as z:
            stored = z.read(f"recordings/{rec}/call.ogg")
            wav = z.read(f"recordings/{rec}/call.wav")
            data = json.loads(z.read("data.json"))
            cover = z.read("README.txt").decode()
        assert hashlib.sha256(stored).hexdigest() == stored_sha  # the stored audio, as it is
        _, channels, _ = read_wav(wav, tmp_path / "both.wav")
        assert channels == 2 and not any("caller." in f for f in both["files"])
        assert data["both_channels"] and data["both_channels_reason"] == "the officer agreed"
        assert "the officer agreed" in cover and "machine-readable" in cover
        with svc.catalogue.session() as s:
            packs_made = [
                json.loads(e.details)
                for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "request.pack"))
            ]
        assert [(p["both_channels"], p["reason"]) for p in packs_made] == [
            (False, None), (True, "the officer agreed")
        ]  # fmt: skip
    finally:
        svc.close()
