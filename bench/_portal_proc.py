"""A `callvault portal` subprocess for the benchmarks (bench/hooks.py, bench/portal.py): started
on a free port with the given config, ready once /healthz answers 200, stopped on exit."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CALLVAULT = str(ROOT / ".venv" / "bin" / "callvault")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """The process's resident set in MiB (-1 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return -1.0


def tree(pid: int) -> list[int]:
    """The process and its descendants now."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            pass
    return out


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, with reaped children's) used so far by the tree."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def rss_tree_mb(pid: int) -> float:
    """The resident sets of the process and its children ([portal] workers), in MiB."""
    return sum(max(rss_mb(p), 0.0) for p in tree(pid))


@contextmanager
def running_portal(cfg: Path, port: int, work: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`callvault --config cfg portal --port port` in `work`, its output in work/portal.log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
    log = work / "portal.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [CALLVAULT, "--config", str(cfg), "portal", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=work,
            env=env,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"portal did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        proc.wait(30)
