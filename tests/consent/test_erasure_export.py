"""Exporting an erased recording: the refusal names the erasure request that destroyed it,
not a retention run (the wording comes from its destruction record)."""

from __future__ import annotations

from pathlib import Path

from callvault.wiring import Services
from consent.requests import Identifiers
from tests.conftest import Backend
from tests.consent.test_requests import NUMBER, ingest


def test_export_of_an_erased_recording_names_the_erasure_request(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    svc = services
    rid = ingest(svc, speech_call, "call-erased", caller=NUMBER)
    requests = svc.subject_requests()
    r = requests.open("erasure", Identifiers(callers=[NUMBER]), actor="alice")["id"]
    requests.verify(r, how="passport seen at the counter", actor="alice")
    svc.erasure().propose(r, reason="the caller asked", actor="alice")
    assert svc.erasure().approve(r, approver="bob")["erased"] == [rid]

    out = tmp_path / "x.wav"
    got = backend.cli("recordings", "export", rid, "--out", str(out), "--reason", "t")
    assert got.returncode == 1 and "Traceback" not in got.stderr, got.stderr
    assert f"recording {rid} was erased at " in got.stderr
    assert f"on approval of erasure request {r}" in got.stderr
    assert "retention" not in got.stderr and not out.exists()
