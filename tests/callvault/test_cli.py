"""The CLI as a user sees it: exit codes, one-line errors, the demo that `make run` shows."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import CALLVAULT, Backend


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CALLVAULT, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )


def test_demo_places_a_real_sip_call_on_the_embedded_default(tmp_path: Path) -> None:
    r = run(tmp_path, "demo")
    assert r.returncode == 0, r.stderr
    for step in (
        "[1] callvault init",
        "the agent bridged the caller to the queue",
        "2 channels",
        "case ids CT-2026-0001 (from the X-Case-ID header)",
        '"outcome": "recorded"',
        "not 'RIFF' or 'OggS'",
        "checksums of ciphertext and plaintext verified",
        "intact: 4 events",  # audit.keyed and portal.user.add (init), ingest, export
    ):
        assert step in r.stdout
    listed = json.loads(run(tmp_path, "recordings", "list", "--json").stdout)
    assert len(listed) == 1 and listed[0]["case_ids"] == ["CT-2026-0001"]
    assert (tmp_path / "var/callvault.db").is_file()


def test_usage_and_config_errors_are_one_line(tmp_path: Path) -> None:
    r = run(tmp_path, "recordings", "frobnicate")
    assert r.returncode == 2 and "invalid choice" in r.stderr
    (tmp_path / "callvault.toml").write_text('[audio]\nformat = "flac"\n')
    r = run(tmp_path, "recordings", "list")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "callvault: configuration error: audio.format = 'flac' is not allowed; "
        "allowed values: 'opus', 'wav'"
    ]


def test_commands_before_init_say_what_to_do(tmp_path: Path) -> None:
    r = run(tmp_path, "recordings", "list")
    assert r.returncode == 1 and "run `callvault init`" in r.stderr and "Traceback" not in r.stderr


def test_json_contract_of_ingest_and_show(
    backend: Backend, services: object, speech_call: Path, tmp_path: Path
) -> None:
    consent = tmp_path / "consent.json"
    consent.write_text(json.dumps({"recorded": True, "lawful_basis": "public task"}))
    r = backend.cli(
        "ingest",
        str(speech_call),
        "--call-id",
        "k1",
        "--case-id",
        "A",
        "--case-id",
        "B",
        "--consent",
        str(consent),
        "--json",
        check=True,
    )
    doc = json.loads(r.stdout)
    for key in ("id", "state", "duration_s", "channels", "case_ids", "consent"):
        assert key in doc
    assert doc["state"] == "stored" and doc["case_ids"] == ["A", "B"] and doc["channels"] == 2
    assert json.loads(backend.cli("recordings", "show", doc["id"], "--json").stdout) == doc
    human = backend.cli("recordings", "list", check=True)
    assert doc["id"] in human.stdout and "1 recording(s)" in human.stderr
