#!/usr/bin/env python3
"""Platform hooks benchmark on a throwaway PostgreSQL 15, against a real `callvault portal`.

    .venv/bin/python bench/hooks.py [--quick] [--connections N] [--seconds S]

1. Decisions: `wrk` (Debian's, scripts/system-deps.sh) POSTs /hooks/v1/incoming-call with a
   new platform call ID and caller per request (bench/hooks_wrk.lua; 1 in 10 callers on a
   do-not-record list of 1,000), N connections for S seconds after a 5-second warm-up. Every
   decision is a real one: the list looked up by keyed E.164 hash, the notice selected, the
   consent-only record and its audit event committed. Reports decisions/s and p50/p90/p99.
2. Memory: the portal's RSS while a 2-hour stereo 8 kHz WAV (sox, ~230 MB) is uploaded
   through POST /hooks/v1/recordings, sampled every 50 ms: before, peak, after.

Prints the figures and the load average, and writes bench/out/hooks.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench._portal_proc import cpu_s, free_port, rss_tree_mb, running_portal  # noqa: E402
from callvault.settings import load_settings  # noqa: E402
from callvault.wiring import Services  # noqa: E402
from consent.do_not_record import DoNotRecordList  # noqa: E402
from portal.auth.users import Users  # noqa: E402
from tests.servers import start_postgres  # noqa: E402

LUA = ROOT / "bench" / "hooks_wrk.lua"


def prepare(work: Path, pg_url: str, port: int, workers: int) -> tuple[Path, str]:
    cfg = work / "callvault.toml"
    cfg.write_text(
        f'[database]\nurl = "{pg_url}"\n\n[portal]\nport = {port}\nworkers = {workers}\n\n'
        "[hooks]\nanswer_within_s = 0\n"
    )
    svc = Services.build(load_settings(cfg, environ={}))
    try:
        svc.init()
        users = Users(svc.catalogue)
        users.add("pbx", "platform", password=None, actor="bench")
        token = users.issue_token("pbx", label="bench", actor="bench")
        dnr = DoNotRecordList(svc.catalogue, svc.hasher)
        for i in range(1000):
            dnr.add(f"+4412774{i:05d}", reason="bench", actor="bench")
    finally:
        svc.close()
    return cfg, token


def wrk(
    base: str, token: str, connections: int, seconds: int, pids: dict[str, int] | None = None
) -> dict[str, Any]:
    """One wrk run; with `pids` (name → root pid), also the CPU time each process tree and wrk
    used per decision, and the rate those would allow on this machine's cores."""
    cmd = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA),
        base,
    ]
    env = {**os.environ, "HOOK_TOKEN": token}
    before = {name: cpu_s(pid) for name, pid in (pids or {}).items()}
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = {name: cpu_s(pid) - before[name] for name, pid in (pids or {}).items()}
    used["wrk"] = after.ru_utime + after.ru_stime - kids.ru_utime - kids.ru_stime
    m = re.search(r"WRK_JSON (\{.*\})", out)
    if m is None:
        raise SystemExit(f"wrk printed no summary:\n{out}")
    r = json.loads(m[1])
    rate = r["requests"] / (r["duration_us"] / 1e6)
    return {
        "command": " ".join(cmd),
        "connections": connections,
        "seconds": seconds,
        "requests": r["requests"],
        "decisions_per_s": round(rate, 1),
        "non2xx": r["non2xx"],
        "socket_errors": r["socket_errors"],
        "p50_ms": r["p50_us"] / 1000,
        "p90_ms": r["p90_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "max_ms": r["max_us"] / 1000,
        "loadavg_after": os.getloadavg(),
        **(cpu_per_decision(used, r["requests"]) if pids else {}),
    }


def cpu_per_decision(used: dict[str, float], requests: int) -> dict[str, Any]:
    per = {name: round(cpu * 1000 / requests, 3) for name, cpu in used.items()}
    total = sum(used.values()) * 1000 / requests
    cores = os.cpu_count() or 1
    return {
        "cpu_ms_per_decision": {**per, "total": round(total, 3)},
        "cpu_bound_per_s": round(cores * 1000 / total, 1),  # every core on this work alone
    }


def make_durable(pg: Any) -> None:
    """fsync, synchronous_commit and full_page_writes back on (the tests turn them off): a
    commit is then on disk before its answer."""
    with pg.connect("postgres") as conn:
        conn.autocommit = True
        for name in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {name} = on")
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(1)


def pg_settings(pg: Any) -> dict[str, str]:
    """The cluster's durability settings in force (the tests' cluster, tests/servers.py)."""
    names = (
        "fsync",
        "synchronous_commit",
        "full_page_writes",
        "wal_sync_method",
        "max_connections",
    )
    with pg.connect("postgres") as conn:
        return {n: str(conn.execute(f"SHOW {n}").fetchone()[0]) for n in names}


def py_spy(pid: int, seconds: int, out: str) -> subprocess.Popen[bytes]:
    """py-spy (pip install py-spy; PY_SPY names the binary) sampling every thread of the
    portal (and its children) while wrk runs, as collapsed stacks in OUT."""
    cmd = [os.environ.get("PY_SPY", "py-spy"), "record", "--pid", str(pid), "--subprocesses"]
    cmd += ["--threads", "--idle", "--format", "raw", "--duration", str(seconds), "-o", out]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def upload_memory(base: str, token: str, pid: int, work: Path, seconds: int) -> dict[str, Any]:
    wav = work / "two-hours.wav"
    synth = ["synth", str(seconds), "sine", "440", "sine", "660"]
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "2", "-b", "16", str(wav), *synth], check=True)
    size = wav.stat().st_size
    boundary = "benchboundary7d1f"
    manifest = json.dumps({"platform_call_id": "bench-upload", "service": "bench"})
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="manifest"\r\n'
        f"Content-Type: application/json\r\n\r\n{manifest}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="call.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        with open(wav, "rb") as f:
            while chunk := f.read(256 * 1024):
                yield chunk
        yield tail

    before = rss_tree_mb(pid)
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(rss_tree_mb(pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    t = time.perf_counter()
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + size + len(tail)),
    }
    r = httpx.post(base + "/hooks/v1/recordings", content=body(), headers=headers, timeout=600)
    wall = time.perf_counter() - t
    stop.set()
    sampler.join()
    return {
        "wav_bytes": size,
        "audio_seconds": seconds,
        "status": r.status_code,
        "answer": r.json(),
        "upload_wall_s": round(wall, 2),
        "rss_before_mb": round(before, 1),
        "rss_peak_mb": round(max(samples) if samples else before, 1),
        "rss_after_mb": round(rss_tree_mb(pid), 1),
    }


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="10 s of load, a 10-minute WAV")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--seconds", type=int, default=30)
    p.add_argument("--workers", type=int, default=1, help="[portal] workers (uvicorn processes)")
    p.add_argument("--durable", action="store_true", help="fsync and synchronous_commit on")
    p.add_argument("--no-upload", action="store_true", help="decisions only")
    p.add_argument("--py-spy", metavar="OUT", help="sample the portal with py-spy (raw stacks)")
    args = p.parse_args()
    seconds = 10 if args.quick else args.seconds
    audio_s = 600 if args.quick else 7200
    out: dict[str, Any] = {
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "loadavg_start": os.getloadavg(),
        }
    }
    with tempfile.TemporaryDirectory(prefix="hooks-bench-") as tmp:
        work = Path(tmp)
        pg = start_postgres(work / "pg")
        try:
            port = free_port()
            if args.durable:
                make_durable(pg)
            cfg, token = prepare(work, pg.create_database("bench"), port, args.workers)
            out["workers"] = args.workers
            out["postgres"] = pg_settings(pg)
            print(json.dumps(out["postgres"]), flush=True)
            base = f"http://127.0.0.1:{port}"
            with running_portal(cfg, port, work) as proc:
                wrk(base, token, args.connections, 5)  # warm-up
                spy = py_spy(proc.pid, seconds, args.py_spy) if args.py_spy else None
                pids = {"portal": proc.pid, "postgres": pg.pid}
                out["decisions"] = wrk(base, token, args.connections, seconds, pids)
                if spy is not None:
                    spy.wait(60)
                print(json.dumps(out["decisions"], indent=2), flush=True)
                if not args.no_upload:
                    out["upload_memory"] = upload_memory(base, token, proc.pid, work, audio_s)
                    print(json.dumps(out["upload_memory"], indent=2), flush=True)
        finally:
            pg.stop()
    out["machine"]["loadavg_end"] = os.getloadavg()
    dest = ROOT / "bench" / "out"
    dest.mkdir(exist_ok=True)
    (dest / ("hooks.quick.json" if args.quick else "hooks.json")).write_text(
        json.dumps(out, indent=2) + "\n"
    )
    print(json.dumps(out["machine"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
