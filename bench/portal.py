#!/usr/bin/env python3
"""Portal benchmark on a throwaway PostgreSQL 15 + SeaweedFS, against a real `callvault portal`.

    .venv/bin/python bench/portal.py [--quick]

1. Search: 1,000,000 catalogued recordings (10 services, spread over 365 days) plus one real
   1-hour recorded call, then VACUUM ANALYZE (as autovacuum would do); the API search
   `service + 30-day range, 50 rows` (with its count), the next page by cursor, and the same
   search as the HTML page, each timed as a round trip over loopback with keep-alive (an upper
   bound of the server-side time), median of 30 after 3 warm-ups.
2. First audio byte of the 1-hour recording: open a grant (POST …/access), then GET the audio
   with `Range: bytes=<80 %>-`; time to the first body byte, median of 20.
3. Memory: the portal process's RSS while 20 clients stream the whole hour at once, sampled
   every 50 ms: before, peak, after.

Prints the figures and writes bench/out/portal.json (portal.quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench._audio import loop_to, make_call  # noqa: E402
from bench._portal_proc import free_port, rss_mb, running_portal  # noqa: E402
from callvault.settings import load_settings  # noqa: E402
from callvault.wiring import Services  # noqa: E402
from portal.auth.users import Users  # noqa: E402
from portal.timing import app_duration_ms  # noqa: E402
from storage.ingest import IngestRequest  # noqa: E402
from tests.servers import start_postgres, start_seaweedfs  # noqa: E402

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SERVICES = [f"service-{i}" for i in range(10)]

FILL = """
INSERT INTO recordings (id, call_id, state, complete, started_at, ended_at, ingested_at,
    duration_s, channels, sample_rate, service, agent, caller_hash, format, plaintext_bytes,
    stored_bytes, sha256_plaintext, sha256_ciphertext, object_key, retention_class,
    expires_at, retention_policy)
SELECT md5(g::text)::uuid::text, 'bench-' || g, 'stored', g % 50 <> 0, t.s, t.s + interval '4 min',
       t.s + interval '5 min', 240, 2, 8000, 'service-' || (g % 10), 'agent-' || (g % 200),
       md5('c' || g) || md5(g::text), 'opus', 720000, 720000,
       md5('p' || g) || md5('q' || g), md5('x' || g) || md5('y' || g),
       'recordings/bench/' || md5(g::text), 'standard', t.s + interval '400 days', 'fp'
FROM generate_series(1, :total) AS g,
     LATERAL (SELECT CAST(:now AS timestamptz) - (g * (365 * 86400 / CAST(:total AS float)))
              * interval '1 second' AS s) t
"""


def config_for(
    work: Path, pg_url: str, s3: Any, bucket: str, port: int, compress: str = "at-ingest"
) -> Path:
    """`compress = "at-ingest"` gives the compact form a recording has once a worker has
    compressed it; "later" leaves the WAV committed at hang-up (before any worker runs)."""
    cfg = work / f"callvault-{compress}.toml"
    cfg.write_text(
        f'[database]\nurl = "{pg_url}"\n\n[store]\nbackend = "s3"\n\n'
        f'[s3]\nendpoint_url = "{s3.endpoint_url}"\nbucket = "{bucket}"\nregion = "{s3.region}"\n'
        f'access_key_id = "{s3.access_key}"\nsecret_access_key = "{s3.secret_key}"\n'
        "path_style = true\ncreate_bucket = true\n\n"
        f'[portal]\nhost = "127.0.0.1"\nport = {port}\n\n'
        f'[audio]\ncompress = "{compress}"\n'
    )
    return cfg


def ingest_hour(svc: Services, work: Path, hour_s: float, call_id: str) -> str:
    """One real recorded call of `hour_s` seconds through the pipeline."""
    hour = work / "hour.wav"
    if not hour.exists():
        loop_to(make_call(work / "call.wav", 120), hour, hour_s)
    r = svc.pipeline().ingest(
        hour,
        IngestRequest(
            call_id=call_id,
            caller="+44 1277 312 500",
            service=SERVICES[3],
            agent="agent-3",
            case_ids=("BENCH-1",),
            started_at=NOW - timedelta(days=2),
        ),
        actor="bench",
    )
    if r.state != "stored":
        raise SystemExit(f"ingest of the hour-long call failed: {r.message}")
    return r.recording_id


def seed(svc: Services, work: Path, total: int, hour_s: float) -> str:
    """One real recorded call of `hour_s` seconds (compact form), then `total` rows."""
    rid = ingest_hour(svc, work, hour_s, "bench-hour")
    t = time.perf_counter()
    with svc.catalogue.engine.begin() as conn:
        conn.execute(text(FILL), {"total": total, "now": NOW})
    # What autovacuum does after a bulk load; without the visibility map the count cannot be
    # an index-only scan of (service, started_at).
    with svc.catalogue.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE recordings"))
    print(f"seeded {total:,} rows in {time.perf_counter() - t:.1f} s", flush=True)
    return rid


def timed(fn: Any, reps: int, warm: int = 3) -> dict[str, Any]:
    """Round trips (client clock) and the server's own `Server-Timing: app;dur` of `fn()`'s
    answer, `reps` of each after `warm` warm-ups."""
    for _ in range(warm):
        fn()
    trips, server = [], []
    for _ in range(reps):
        t = time.perf_counter()
        r = fn()
        trips.append((time.perf_counter() - t) * 1000)
        dur = app_duration_ms(r.headers.get("server-timing"))
        if dur is not None:
            server.append(dur)
    return {**summary(trips), "server": summary(server) if server else None}


def server_ms(t: dict[str, Any] | None) -> str:
    if not t or not t.get("server"):
        return "no Server-Timing"
    return f"{t['server']['median_ms']:.1f} ms"


def ok(r: httpx.Response) -> httpx.Response:
    r.raise_for_status()
    return r


def summary(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {
        "median_ms": statistics.median(ms),
        "p90_ms": ms[int(0.9 * (len(ms) - 1))],
        "min_ms": ms[0],
        "n": len(ms),
    }


def login(c: httpx.Client, name: str, password: str) -> None:
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if token is None:
        raise SystemExit("no CSRF token on the login page")
    r = c.post("/login", data={"name": name, "password": password, "csrf_token": token.group(1)})
    if r.status_code >= 400:
        raise SystemExit(f"login failed: {r.status_code} {r.text[:200]}")


def search_bench(base: str, token: str, password: str, reps: int) -> dict[str, Any]:
    since = (NOW - timedelta(days=40)).isoformat()
    until = (NOW - timedelta(days=10)).isoformat()
    params = {"service": SERVICES[3], "since": since, "until": until, "limit": 50}
    hdr = {"Authorization": f"Bearer {token}"}
    out: dict[str, Any] = {}
    with httpx.Client(base_url=base, headers=hdr, timeout=60) as c:
        first = c.get("/api/v1/recordings", params=params)
        first.raise_for_status()
        body = first.json()
        out["rows"] = len(body["items"])
        out["total"] = body.get("total")
        out["api_first_page"] = timed(lambda: ok(c.get("/api/v1/recordings", params=params)), reps)
        cursor = body.get("next_cursor")
        if cursor:
            out["api_next_page"] = timed(
                lambda: ok(c.get("/api/v1/recordings", params={**params, "cursor": cursor})),
                reps,
            )
    with httpx.Client(base_url=base, timeout=60, follow_redirects=True) as c:
        login(c, "bench", password)
        page_params = {
            "service": SERVICES[3],
            "since": since[:10],
            "until": until[:10],
        }
        r = c.get("/search", params=page_params)
        out["page_status"] = r.status_code
        out["html_page"] = timed(lambda: ok(c.get("/search", params=page_params)), reps)
    return out


def first_byte_bench(base: str, token: str, rid: str, reps: int) -> dict[str, Any]:
    hdr = {"Authorization": f"Bearer {token}"}
    ttfb, statuses = [], []
    with httpx.Client(base_url=base, headers=hdr, timeout=60) as c:
        size = None
        for i in range(reps + 2):
            g = c.post(
                f"/api/v1/recordings/{rid}/access",
                json={"reason_code": "quality", "reason": "bench: seek test"},
            )
            if g.status_code >= 400:
                g = c.post(f"/api/v1/recordings/{rid}/access", json={"reason": "bench: seek"})
            g.raise_for_status()
            url = g.json()["audio_url"]
            if size is None:
                with c.stream("GET", url, headers={"Range": "bytes=0-0"}) as r:
                    size = int(r.headers["Content-Range"].rsplit("/", 1)[1])
            start = int(size * 0.8)
            t = time.perf_counter()
            with c.stream("GET", url, headers={"Range": f"bytes={start}-"}) as r:
                for _chunk in r.iter_raw(4096):
                    dt = (time.perf_counter() - t) * 1000
                    break
                statuses.append(r.status_code)
            if i >= 2:  # two warm-ups
                ttfb.append(dt)
    return {"bytes": size, "status": sorted(set(statuses)), **summary(ttfb)}


def memory_bench(base: str, token: str, rid: str, pid: int, clients: int) -> dict[str, Any]:
    hdr = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=hdr, timeout=60) as c:
        urls = []
        for _ in range(clients):
            g = c.post(
                f"/api/v1/recordings/{rid}/access",
                json={"reason_code": "quality", "reason": "bench: memory"},
            )
            g.raise_for_status()
            urls.append(g.json()["audio_url"])
    before = rss_mb(pid)
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(rss_mb(pid))
            time.sleep(0.05)

    got: list[int] = []

    def stream(url: str) -> None:
        n = 0
        with (
            httpx.Client(base_url=base, headers=hdr, timeout=120) as c,
            c.stream("GET", url) as r,
        ):
            for chunk in r.iter_raw(64 * 1024):
                n += len(chunk)
        got.append(n)

    sampler = threading.Thread(target=sample)
    sampler.start()
    t = time.perf_counter()
    threads = [threading.Thread(target=stream, args=(u,)) for u in urls]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    stop.set()
    sampler.join()
    time.sleep(0.5)
    return {
        "clients": clients,
        "bytes_each": sorted(set(got)),
        "wall_s": wall,
        "rss_before_mb": before,
        "rss_peak_mb": max(samples) if samples else before,
        "rss_after_mb": rss_mb(pid),
    }


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="100,000 rows, a 10-minute call")
    args = p.parse_args()
    total, hour_s, reps = (100_000, 600.0, 10) if args.quick else (1_000_000, 3600.0, 30)
    out: dict[str, Any] = {
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "loadavg_start": os.getloadavg(),
        }
    }
    password = "bench password " + uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        work = Path(tmp)
        pg, s3 = start_postgres(work / "pg"), start_seaweedfs(work / "weed")
        try:
            port = free_port()
            db = pg.create_database("bench")
            cfg = config_for(work, db, s3, "portalbench", port)
            svc = Services.build(load_settings(cfg, environ={}))
            fresh = Services.build(
                load_settings(config_for(work, db, s3, "portalbench", port, "later"), environ={})
            )
            try:
                svc.init()
                rid = seed(svc, work, total, hour_s)
                wav_rid = ingest_hour(fresh, work, hour_s, "bench-hour-fresh")
                users = Users(svc.catalogue)
                users.add("bench", "supervisor", password=password, actor="bench")
                token = users.issue_token("bench", label="bench", actor="bench")
            finally:
                svc.close()
                fresh.close()
            with running_portal(cfg, port, work) as proc:
                base = f"http://127.0.0.1:{port}"
                out["rows"] = total + 2
                out["search"] = search_bench(base, token, password, reps)
                s = out["search"]
                print(
                    f"search (service + 30 days, 50 rows, {s['total']} matching) among "
                    f"{total + 2:,}: API {s['api_first_page']['median_ms']:.1f} ms median "
                    "round trip "
                    f"({server_ms(s['api_first_page'])} server), next page "
                    f"{s.get('api_next_page', {}).get('median_ms', float('nan')):.1f} ms "
                    f"({server_ms(s.get('api_next_page'))}), HTML page "
                    f"{s['html_page']['median_ms']:.1f} ms ({server_ms(s['html_page'])})",
                    flush=True,
                )
                n = 20 if not args.quick else 5
                out["first_byte"] = first_byte_bench(base, token, rid, n)
                out["first_byte_fresh_wav"] = first_byte_bench(base, token, wav_rid, n)
                for key, form in (("first_byte", "compact"), ("first_byte_fresh_wav", "fresh WAV")):
                    fb = out[key]
                    print(
                        f"first audio byte at 80 % of a {hour_s / 60:.0f}-minute recording, {form} "
                        f"({fb['bytes']:,} bytes, HTTP {fb['status']}): {fb['median_ms']:.1f} ms "
                        "median",
                        flush=True,
                    )
                out["memory"] = memory_bench(base, token, rid, proc.pid, 20)
                m = out["memory"]
                print(
                    f"20 clients streaming the whole recording at once ({m['wall_s']:.1f} s): "
                    f"portal RSS {m['rss_before_mb']:.0f} MB before, "
                    f"{m['rss_peak_mb']:.0f} MB peak, "
                    f"{m['rss_after_mb']:.0f} MB after",
                    flush=True,
                )
        finally:
            pg.stop()
            s3.stop()
    out["machine"]["loadavg_end"] = os.getloadavg()
    dst = ROOT / "bench" / "out" / ("portal.quick.json" if args.quick else "portal.json")
    dst.parent.mkdir(exist_ok=True)
    dst.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"wrote {dst.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
