"""Nothing lost: S3 outages, SIGKILL at every step, corrupt input; on both backend pairs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callvault.wiring import Services
from storage.catalogue.models import AuditEvent, Recording
from storage.retrieval import ListFilter
from tests.conftest import Backend

KILL_SCRIPT = """
import os, signal, sys
from pathlib import Path
from callvault.settings import load_settings
from callvault.wiring import Services
from storage.ingest import IngestRequest

config, source, target = sys.argv[1], Path(sys.argv[2]), sys.argv[3]

def crash(state, job):
    if state == target:
        os.kill(os.getpid(), signal.SIGKILL)

svc = Services.build(load_settings(Path(config), environ={}))
svc.pipeline(on_step=crash).ingest(source, IngestRequest("killed-call", caller="+4412345"),
                                   actor="crash-test")
print("not killed")
"""


def count_objects(backend: Backend, services: Services) -> int:
    if backend.s3 is not None:
        r = backend.s3.client().list_object_versions(Bucket=backend.settings.s3.bucket)
        return len(r.get("Versions", [])) + len(r.get("DeleteMarkers", []))
    root = backend.settings.store.path
    return len([p for p in root.rglob("*") if p.is_file() and p.suffix != ".sha256"])


def count_rows(services: Services) -> int:
    with services.catalogue.session() as s:
        return int(s.scalar(select(func.count()).select_from(Recording)) or 0)


@pytest.mark.parametrize(
    "step", ["spooled", "probed", "transcoded", "encrypted", "uploaded", "committed"]
)
def test_sigkill_at_each_step_then_resume_stores_exactly_once(
    backend: Backend, services: Services, speech_call: Path, step: str
) -> None:
    r = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(backend.config), str(speech_call), step],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert len(services.spool.pending()) == 1  # the job survived the crash
    resumed = backend.cli("ingest", "--resume", check=True)
    assert "stored" in resumed.stdout  # "stored" or "already-stored" after a commit
    assert services.spool.pending() == []
    assert count_rows(services) == 1
    assert count_objects(backend, services) == 1  # no orphan, no duplicate version
    rid = services.recordings().list(ListFilter())[0]["id"]
    out = backend.config.parent / "out.wav"
    backend.cli("recordings", "export", rid, "--out", str(out), "--reason", "t", check=True)
    assert out.stat().st_size > 1000
    again = backend.cli("ingest", "--resume", check=True)
    assert count_rows(services) == 1 and "resumed 0 job(s)" in again.stderr
    assert backend.cli("audit", "verify").returncode == 0


def test_s3_unreachable_keeps_job_then_resume_succeeds(
    backend: Backend, services: Services, speech_call: Path
) -> None:
    if backend.s3 is None:
        pytest.skip("an outage of the S3 server")
    down = {"CALLVAULT_S3_ENDPOINT_URL": "http://127.0.0.1:9"}  # nothing listens on discard
    r = backend.cli("ingest", str(speech_call), "--call-id", "outage", env=down)
    assert r.returncode == 1
    assert "unreachable" in r.stderr and "--resume" in r.stderr and "Traceback" not in r.stderr
    assert len(services.spool.pending()) == 1 and count_rows(services) == 0
    assert count_objects(backend, services) == 0
    manifest = json.loads(
        (services.spool.jobs_dir / services.spool.pending()[0] / "manifest.json").read_text()
    )
    assert manifest["state"] == "encrypted"
    assert "caller" not in manifest["request"]  # plaintext number gone once sealed
    r = backend.cli("ingest", "--resume", "--json", check=True)
    assert count_rows(services) == 1 and services.spool.pending() == []
    assert count_objects(backend, services) == 1


def test_corrupt_audio_is_rejected_with_reason_and_kept(
    backend: Backend, services: Services, tmp_path: Path, speech_call: Path
) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(os.urandom(20000))
    r = backend.cli("ingest", str(junk), "--call-id", "junk")
    assert r.returncode == 1 and "rejected" in r.stderr and "not readable audio" in r.stderr
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(speech_call.read_bytes()[:44])  # header only, no samples
    r = backend.cli("ingest", str(truncated), "--call-id", "trunc")
    assert r.returncode == 1 and "rejected" in r.stderr
    rejected = sorted(services.spool.rejected_dir.iterdir())
    assert len(rejected) == 2
    for d in rejected:  # kept, but sealed: no manifest or audio in clear (issue 8 item 3)
        index = json.loads((d / "index.json").read_text())
        assert index["reason"].strip() and index["area"] == "rejected"
        names = {f["name"] for f in index["files"]}
        assert {"manifest.json", "reason.txt"} <= names
        assert any(n.startswith("source") for n in names)  # input kept
        assert all(p.suffix == ".enc" for p in d.iterdir() if p.name != "index.json")
    assert count_rows(services) == 0 and services.spool.pending() == []
    assert count_objects(backend, services) == 0


def test_audit_verify_catches_edited_removed_and_reordered_rows(
    backend: Backend, services: Services, speech_call: Path
) -> None:
    before = json.loads(backend.cli("audit", "verify", "--json", check=True).stdout)["count"]
    assert before >= 1  # init keyed the chain: its switch-over row comes first
    for i in range(3):
        backend.cli("ingest", str(speech_call), "--call-id", f"c{i}", check=True)
    ok = backend.cli("audit", "verify", "--json", check=True)
    assert json.loads(ok.stdout)["count"] == before + 3
    table = AuditEvent.__table__
    with services.catalogue.engine.connect() as conn:
        original = [dict(r._mapping) for r in conn.execute(table.select().order_by(table.c.seq))]

    def tampered(*stmts: object) -> subprocess.CompletedProcess[str]:
        with services.catalogue.engine.begin() as conn:
            conn.execute(table.delete())
            conn.execute(table.insert(), original)
            for stmt in stmts:
                conn.execute(stmt)  # type: ignore[call-overload]
        return backend.cli("audit", "verify")

    assert tampered().returncode == 0  # the restore itself is faithful
    n = before + 2  # an ingest event, well inside the chain
    r = tampered(table.update().where(table.c.seq == n).values(actor="someone-else"))
    assert r.returncode == 1 and f"row {n}" in r.stderr and "altered" in r.stderr
    r = tampered(table.delete().where(table.c.seq == n))
    assert r.returncode == 1 and f"row {n} is missing" in r.stderr
    swap = [
        table.update().where(table.c.seq == a).values(seq=b)
        for a, b in ((n, 100), (n + 1, n), (100, n + 1))
    ]
    r = tampered(*swap)
    assert r.returncode == 1 and f"row {n} does not link" in r.stderr
