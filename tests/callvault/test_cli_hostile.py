"""Hostile or careless input on any command: one line on stderr, exit 1 (failed) or 2 (usage),
never a traceback, and no control character printed raw (issue 8, "done when")."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CALLVAULT

FAKE = "x\ncallvault: recording stored\x1b[2J"  # a fake output line and a terminal escape


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CALLVAULT, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    d = tmp_path_factory.mktemp("hostile")
    assert run(d, "init").returncode == 0
    yield d


CASES = [
    (("recordings", "show", FAKE), 1),
    (("recordings", "tag", "no-such-id", "--case-id", "C-1"), 1),
    (("recordings", "export", FAKE, "--out", "o.wav", "--reason", "r"), 1),
    (("recordings", "list", "--since", FAKE), 2),
    (("recordings", "list", "--limit", "many"), 2),
    (("recordings", "frobnicate"), 2),
    (("ingest", "call.wav"), 2),  # no --call-id
    (("ingest", "--resume", "call.wav"), 2),
    (("ingest", "no-such.wav", "--call-id", FAKE), 1),
    (("hold", "add", "--reference", "R", "--reason", "r"), 2),
    (("hold", "release", FAKE), 1),
    (("retention", "run", "--now", "yesterday"), 2),
    (("calls", "pause", FAKE), 1),  # no agent running
    (("calls", "list", "--json", "--json", "extra"), 2),
    (("--config", "/nonexistent/callvault.toml", "recordings", "list"), 2),
    (("audit", "verify", "--bogus"), 2),
    ((), 2),
]


@pytest.mark.parametrize(("args", "code"), CASES, ids=[" ".join(a)[:40] for a, _ in CASES])
def test_one_line_and_exit_code(home: Path, args: tuple[str, ...], code: int) -> None:
    r = run(home, *args)
    assert r.returncode == code, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("callvault")
    assert "Traceback" not in r.stderr and "\x1b" not in r.stderr


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[sip]\nport = 5070.9\n", "sip.port = 5070.9 is not an integer"),
        (
            '[[consent.notices]]\nid = "a"\nversion = "1"\nlangauge = "en"\nfile = "a.wav"\n',
            "consent.notices[1].langauge",
        ),
    ],
)
def test_configuration_mistakes_are_named_at_start(tmp_path: Path, toml: str, key: str) -> None:
    (tmp_path / "callvault.toml").write_text(toml)
    for args in (("init",), ("serve", "--no-agent"), ("calls", "list")):
        r = run(tmp_path, *args)
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().splitlines() == [r.stderr.strip()] and r.stderr.startswith(
            "callvault: configuration error: "
        )
        assert key in r.stderr
