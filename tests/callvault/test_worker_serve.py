"""`callvault serve` supervises `[worker] processes` compression workers: starts them, starts
one again when it dies, and stops them all when it stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from callvault.settings import load_settings
from tests.conftest import CALLVAULT, Backend, write_config


def worker_children(parent: int) -> set[int]:
    """Live `callvault worker` processes whose parent is `parent`."""
    found = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat[1]) == parent and stat[0] not in ("Z", "X") and b"worker" in cmd:
            found.add(int(d.name))
    return found


def until(what: str, check: object, log: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} did not happen; serve said:\n{''.join(log)}")


def test_serve_starts_restarts_and_stops_its_workers(tmp_path: Path, speech_call: Path) -> None:
    config = write_config(tmp_path, "[worker]\nprocesses = 2\npoll_s = 1\nold_object_grace_s = 0\n")
    b = Backend("sqlite-fs", config, load_settings(config, environ={}))
    b.cli("init", check=True)
    r = b.cli("ingest", str(speech_call), "--call-id", "served", "--json", check=True)
    rid = json.loads(r.stdout)["id"]
    proc = subprocess.Popen(
        [CALLVAULT, "--config", str(config), "serve", "--no-agent", "--no-portal"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")},
    )
    log: list[str] = []
    assert proc.stderr is not None
    reader = threading.Thread(target=lambda: log.extend(proc.stderr or []), daemon=True)
    reader.start()
    try:
        until("two workers", lambda: len(worker_children(proc.pid)) == 2, log)
        first = worker_children(proc.pid)
        assert any("2 compression worker(s) started" in line for line in log)

        def compressed() -> bool:
            shown = b.cli("recordings", "show", rid, "--json")
            return shown.returncode == 0 and json.loads(shown.stdout)["format"] == "opus"

        until("the recording compressed by a worker", compressed, log)

        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        until(
            "a new worker in place of the killed one",
            lambda: (
                len(worker_children(proc.pid) - first) == 1 and len(worker_children(proc.pid)) == 2
            ),
            log,
        )
        assert any(f"pid {victim} exited with -9; restarting" in line for line in log)
        running = worker_children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(90) == 0, "".join(log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(10)
        proc.stderr.close()
    for pid in running:  # none is left behind (re-parented, it would go on running)
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        assert b"worker" not in cmd, f"worker {pid} outlived serve"
