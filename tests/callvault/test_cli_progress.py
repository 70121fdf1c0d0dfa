"""Long-running commands show progress on stderr when it is a terminal, and print nothing
extra when it is not (a file, a pipe)."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CALLVAULT

ENV = {"PATH": "/usr/bin:/bin", "TERM": "xterm", "COLUMNS": "120"}


def on_a_terminal(cwd: Path, *args: str) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal; returns the exit code, stdout and the terminal."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [CALLVAULT, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=slave, env=ENV
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    proc.stdout.close()
    return proc.wait(timeout=120), out, seen.decode(errors="replace")


def piped(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CALLVAULT, *args], cwd=cwd, capture_output=True, text=True, env=ENV, timeout=120
    )


@pytest.fixture
def home(tmp_path: Path, speech_call: Path) -> Path:
    assert piped(tmp_path, "init").returncode == 0
    r = piped(tmp_path, "ingest", str(speech_call), "--call-id", "p1")
    assert r.returncode == 0, r.stderr
    return tmp_path


@pytest.mark.parametrize(
    ("args", "label", "quiet_stderr"),
    [
        (("keys", "rotate"), "re-wrapping data keys", ["new key-encryption key local:"]),
        (("retention", "apply"), "applying the retention policy", []),
        (("retention", "run"), "destroying expired recordings", []),
        (("ingest", "--resume"), "finishing spooled jobs", ["resumed 0 job(s) from "]),
    ],
)
def test_progress_only_on_a_terminal(
    home: Path, args: tuple[str, ...], label: str, quiet_stderr: list[str]
) -> None:
    code, out, terminal = on_a_terminal(home, *args)
    assert code == 0, terminal
    assert label in terminal and "\x1b[" in terminal
    assert label not in out  # results on stdout stay clean
    r = piped(home, *args)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == len(quiet_stderr), r.stderr
    for line, start in zip(lines, quiet_stderr, strict=True):
        assert line.startswith(start)
    assert "\x1b[" not in r.stderr


def test_key_rotation_counts_the_keys_it_rewraps(home: Path) -> None:
    code, out, terminal = on_a_terminal(home, "keys", "rotate")
    assert code == 0 and "re-wrapped 1 data key(s)" in out
    assert "1/1" in terminal  # the bar knew the total and reached it
