"""`/api/v1/audit` says what `callvault audit verify` says: the chain and its cross-check with
the catalogue (a recording the log never saw ingested), through the real HTTP server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx

from callvault.wiring import Services
from portal.auth.users import Users
from storage.catalogue.models import Recording
from tests.conftest import Backend
from tests.portal.conftest import running_portal

RID = "00000000-0000-4000-8000-00000000c0de"


def unaudited_recording() -> Recording:
    """A catalogue row with no `recording.ingest` event: the chain is intact, the log is not."""
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    return Recording(
        id=RID,
        call_id="call-unaudited",
        state="stored",
        started_at=now,
        ingested_at=now,
        duration_s=1.0,
        channels=2,
        sample_rate=8000,
        format="wav",
        plaintext_bytes=44,
        stored_bytes=44,
        sha256_plaintext="0" * 64,
        sha256_ciphertext="0" * 64,
        object_key=f"recordings/{RID}",
    )


def test_the_audit_api_reports_the_clis_cross_check(backend: Backend, tmp_path: Path) -> None:
    svc = Services.build(backend.settings)
    try:
        svc.init()
        Users(svc.catalogue).add("auditor", "auditor", password=None, actor="tester")
        token = Users(svc.catalogue).issue_token("auditor", label="tests", actor="tester")
    finally:
        svc.close()
    bearer = {"Authorization": f"Bearer {token}"}
    with running_portal(backend.config, tmp_path / "portal.log") as base:
        ok = httpx.get(f"{base}/api/v1/audit", headers=bearer, timeout=30).json()
        assert ok["chain"] == "ok" and ok["problems"] == []
        huge = httpx.get(  # past a 64-bit integer: refused, not SQLite's overflow as a 500
            f"{base}/api/v1/audit", params={"before_seq": 2**70}, headers=bearer, timeout=30
        )
        assert 400 <= huge.status_code < 500 and "before_seq" in huge.text, huge.text

        svc = Services.build(backend.settings)
        try:
            with svc.catalogue.session() as s:
                s.add(unaudited_recording())
        finally:
            svc.close()
        api = httpx.get(f"{base}/api/v1/audit", headers=bearer, timeout=30).json()
    cli = backend.cli("audit", "verify", "--json")
    assert cli.returncode == 1
    verify = json.loads(cli.stdout)
    assert verify["chain_ok"] and not verify["ok"]  # the chain alone would say "ok"
    assert api["problems"] == verify["problems"]
    assert any("have no ingest event" in p and RID in p for p in api["problems"])
    assert api["chain"] == cli.stderr.strip().removeprefix("callvault: ")
    assert api["chain"].startswith("audit log BROKEN: ")
