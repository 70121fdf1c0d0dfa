"""A fast start: `callvault --help` and `callvault calls pause …` import none of the heavy
libraries (checked from sys.modules in a fresh interpreter, not by timing)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from callvault.cli.app import GROUPS, build_parser

HEAVY = (
    "sqlalchemy",
    "alembic",
    "boto3",
    "botocore",
    "tink",
    "pjsua2",
    "apscheduler",
    "phonenumbers",
    "psycopg",
    "pydub",
    "fastapi",
    "starlette",
    "uvicorn",
    "argon2",
    "http.client",
    "http.server",
    "storage.catalogue",
    "storage.crypto",
)
PROBE = """
import json, sys
report, argv = sys.argv[1], sys.argv[2:]
from callvault.cli import main
try:
    code = main(argv)
except SystemExit as exc:
    code = exc.code
with open(report, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def run_probe(tmp_path: Path, *argv: str) -> tuple[int, set[str], subprocess.CompletedProcess[str]]:
    report = tmp_path / "report.json"
    r = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    doc = json.loads(report.read_text())
    return doc["code"], set(doc["modules"]), r


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens there once the socket is closed


def test_help_imports_no_heavy_library(tmp_path: Path) -> None:
    code, modules, r = run_probe(tmp_path, "--help")
    assert code == 0
    for group in ("recordings", "calls", "serve", "objections"):
        assert group in r.stdout
    assert heavy_in(modules) == []


def test_calls_pause_imports_no_heavy_library(tmp_path: Path) -> None:
    token = tmp_path / "control.json"
    token.write_text(json.dumps({"port": closed_port(), "token": "t"}))
    (tmp_path / "callvault.toml").write_text(f'[sip]\ncontrol_token_file = "{token}"\n')
    code, modules, r = run_probe(tmp_path, "calls", "pause", "some-call")
    # It got as far as the control socket (nobody there), having read the configuration.
    assert code == 1, r.stderr
    assert "is not answering" in r.stderr and "Traceback" not in r.stderr
    assert "callvault.settings" in modules and "telephony.control_client" in modules
    assert heavy_in(modules) == []


def test_a_command_builds_only_its_own_parser(tmp_path: Path) -> None:
    code, modules, r = run_probe(tmp_path, "calls", "--help")
    assert code == 0 and "pause" in r.stdout
    assert "callvault.cli.calls" in modules
    assert not {f"callvault.cli.{g}" for g in GROUPS if g != "calls"} & modules


@pytest.mark.parametrize("group", GROUPS)
def test_every_group_registers_in_the_full_parser(group: str) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit) as exc:
        parser.parse_args([group, "--help"])
    assert exc.value.code == 0
