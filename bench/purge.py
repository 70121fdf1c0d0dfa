#!/usr/bin/env python3
"""Purge benchmark on a throwaway PostgreSQL 15 + SeaweedFS (S3, versioned bucket).

    .venv/bin/python bench/purge.py [--quick]

1. Throughput: 10,000 expired recordings (catalogue row, wrapped key, consent record, one
   object each, spread over 10 days of keys) destroyed by one `Purger.run()` at batch sizes
   200 and 1000; then by two concurrent runs in two processes (SKIP LOCKED sharing the work).
   Every run is checked: all destroyed exactly once, no object version, no key left.
2. The expiry query among 1,000,000 catalogue rows (700,000 destroyed, 10,000 stored and
   expired, 290,000 stored and not expired): EXPLAIN (ANALYZE, BUFFERS) and the median time of
   the purge's claim query (first batch, FOR UPDATE SKIP LOCKED) and of counting every due
   recording, with no index, with an index on expires_at alone, and with the shipped index
   (state, expires_at).

Prints the figures and writes bench/out/purge.json (bench/out/purge.quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402

from callvault.settings import load_settings  # noqa: E402
from callvault.wiring import Services  # noqa: E402
from retention_jobs import claims  # noqa: E402
from storage.catalogue.models import (  # noqa: E402
    ConsentRecordRow,
    DestructionRecord,
    Recording,
    RecordingKey,
)
from tests.servers import S3Server, start_postgres, start_seaweedfs  # noqa: E402

NOW = datetime(2027, 6, 1, 2, 0, tzinfo=UTC)
STARTED = NOW - timedelta(days=100)  # 90-day standard class: every one of them has expired
OBJECT_BYTES = 4096


def config_for(workdir: Path, pg_url: str, s3: S3Server, bucket: str, batch: int) -> Path:
    cfg = workdir / f"{bucket}.toml"
    cfg.write_text(
        f'[database]\nurl = "{pg_url}"\n\n[store]\nbackend = "s3"\n\n'
        f'[s3]\nendpoint_url = "{s3.endpoint_url}"\nbucket = "{bucket}"\nregion = "{s3.region}"\n'
        f'access_key_id = "{s3.access_key}"\nsecret_access_key = "{s3.secret_key}"\n'
        "path_style = true\ncreate_bucket = true\n\n"
        f'[retention]\nbatch_size = {batch}\n\n[retention.classes]\nstandard = "90 days"\n'
        'consent-only = "90 days"\n'
    )
    return cfg


def seed(svc: Services, s3: S3Server, bucket: str, n: int) -> list[str]:
    """n expired recordings: rows, keys and consent records in bulk; objects in parallel."""
    ids = [str(uuid.uuid4()) for _ in range(n)]
    rows, keys, consents, objects = [], [], [], []
    for i, rid in enumerate(ids):
        started = STARTED - timedelta(days=i % 10, seconds=i)
        key = f"recordings/{started:%Y/%m/%d}/{rid}"
        objects.append(key)
        rows.append(
            {
                "id": rid,
                "call_id": f"call-{i}",
                "state": "stored",
                "complete": True,
                "started_at": started,
                "ended_at": started,
                "ingested_at": started,
                "duration_s": 180.0,
                "channels": 2,
                "sample_rate": 8000,
                "service": "waste",
                "caller_hash": os.urandom(32).hex(),
                "caller_ciphertext": os.urandom(96),
                "format": "opus",
                "plaintext_bytes": OBJECT_BYTES,
                "stored_bytes": OBJECT_BYTES,
                "sha256_plaintext": "0" * 64,
                "sha256_ciphertext": "0" * 64,
                "object_key": key,
                "retention_class": "standard",
                "expires_at": started + timedelta(days=90),
                "retention_policy": svc.retention_policy().fingerprint,
            }
        )
        keys.append(
            {
                "recording_id": rid,
                "kek_id": "local:bench",
                "wrapped_keyset": os.urandom(180),
                "created_at": started,
            }
        )
        consents.append(
            {
                "call_id": f"call-{i}",
                "recording_id": rid,
                "received_at": started,
                "document": '{"recorded":true}',
            }
        )
    with svc.catalogue.session() as s:
        for model, batch in ((Recording, rows), (RecordingKey, keys), (ConsentRecordRow, consents)):
            s.execute(insert(model), batch)
    client = s3.client()
    payload = os.urandom(OBJECT_BYTES)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=payload), objects))
    return ids


def verify(svc: Services, s3: S3Server, bucket: str, ids: list[str]) -> None:
    with svc.catalogue.session() as s:
        stored = s.scalar(
            select(func.count()).select_from(Recording).where(Recording.state != "destroyed")
        )
        recs = s.scalar(select(func.count(func.distinct(DestructionRecord.recording_id))))
        total = s.scalar(select(func.count()).select_from(DestructionRecord))
        keys = s.scalar(select(func.count()).select_from(RecordingKey))
    left = sum(
        len(p.get("Versions", [])) + len(p.get("DeleteMarkers", []))
        for p in s3.client().get_paginator("list_object_versions").paginate(Bucket=bucket)
    )
    if (stored, recs, total, keys, left) != (0, len(ids), len(ids), 0, 0):
        raise SystemExit(
            f"purge incomplete: stored={stored} records={recs}/{total} "
            f"keys={keys} versions left={left}"
        )


def one_run(workdir: Path, pg: Any, s3: S3Server, n: int, batch: int) -> dict[str, Any]:
    bucket = f"b{uuid.uuid4().hex[:10]}"
    url = pg.create_database(bucket)
    svc = Services.build(load_settings(config_for(workdir, url, s3, bucket, batch), environ={}))
    try:
        svc.init()
        t = time.perf_counter()
        ids = seed(svc, s3, bucket, n)
        seed_s = time.perf_counter() - t
        phases = {"claim": 0.0, "delete objects": 0.0, "finalise": 0.0}
        mark = {"t": time.perf_counter()}
        names = {"claimed": "claim", "objects-destroyed": "delete objects", "finalised": "finalise"}

        def on_step(step: str, _ids: list[str]) -> None:
            now = time.perf_counter()
            phases[names[step]] += now - mark["t"]
            mark["t"] = now

        t = mark["t"] = time.perf_counter()
        report = svc.purger(on_step=on_step).run(now=NOW, actor="bench")
        wall = time.perf_counter() - t
        assert len(report.destroyed) == n
        verify(svc, s3, bucket, ids)
    finally:
        svc.close()
    return {
        "recordings": n,
        "batch": batch,
        "seed_s": seed_s,
        "wall_s": wall,
        "per_s": n / wall,
        "phases_s": phases,
    }


def concurrent_runs(
    workdir: Path, pg: Any, s3: S3Server, n: int, batch: int, procs: int = 2
) -> dict[str, Any]:
    bucket = f"b{uuid.uuid4().hex[:10]}"
    url = pg.create_database(bucket)
    cfg = config_for(workdir, url, s3, bucket, batch)
    svc = Services.build(load_settings(cfg, environ={}))
    try:
        svc.init()
        ids = seed(svc, s3, bucket, n)
        go = workdir / f"{bucket}.go"
        workers = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker", str(cfg), str(go)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(procs)
        ]
        for w in workers:
            assert w.stderr is not None and w.stderr.readline().strip() == "ready"
        t = time.perf_counter()
        go.touch()
        done = []
        for w in workers:
            out, err = w.communicate(timeout=600)
            if w.returncode != 0:
                raise SystemExit(f"worker failed: {err}")
            done.append(json.loads(out))
        wall = time.perf_counter() - t
        verify(svc, s3, bucket, ids)
    finally:
        svc.close()
    return {
        "recordings": n,
        "batch": batch,
        "processes": procs,
        "wall_s": wall,
        "per_s": n / wall,
        "destroyed_by_each": [d["destroyed"] for d in done],
        "errors": [d["error"] for d in done],
    }


def worker(cfg: Path, go: Path) -> None:
    svc = Services.build(load_settings(cfg, environ={}))
    try:
        purger = svc.purger()
        print("ready", file=sys.stderr, flush=True)
        while not go.exists():
            time.sleep(0.005)
        report = purger.run(now=NOW, actor="bench")
    finally:
        svc.close()
    json.dump({"destroyed": len(report.destroyed), "error": report.error}, sys.stdout)


# -- the expiry query among 1,000,000 rows --------------------------------------------------

FILL = """
INSERT INTO recordings (id, call_id, state, complete, started_at, ended_at, ingested_at,
    duration_s, channels, sample_rate, service, caller_hash, format, plaintext_bytes,
    stored_bytes, sha256_plaintext, sha256_ciphertext, object_key, retention_class,
    expires_at, retention_policy)
SELECT md5(g::text)::uuid::text, 'call-' || g,
       CASE WHEN g <= :destroyed THEN 'destroyed' ELSE 'stored' END, true,
       e - interval '90 days', e - interval '90 days', e - interval '90 days',
       180, 2, 8000, 'waste', CASE WHEN g <= :destroyed THEN NULL ELSE md5('c' || g) || md5(g::text) END,
       'opus', 500000, 500000, md5('p' || g) || md5('q' || g), md5('x' || g) || md5('y' || g),
       'recordings/' || md5(g::text), 'standard', e, 'fp'
FROM generate_series(1, :total) AS g,
     LATERAL (SELECT CAST(:now AS timestamptz) + (g - :boundary) * interval '30 seconds' AS e) t
"""  # noqa: E501 - SQL

VARIANTS = {
    "no index": [],
    "index (expires_at)": ["CREATE INDEX ix_bench_expires_at ON recordings (expires_at)"],
    "index (state, expires_at), shipped": [
        "CREATE INDEX ix_recordings_state_expires_at ON recordings (state, expires_at)"
    ],
}


def timed(conn: Any, sql: str, params: dict[str, Any], reps: int) -> list[float]:
    out = []
    for _ in range(reps + 1):  # the first one warms the cache and is dropped
        t = time.perf_counter()
        conn.exec_driver_sql(sql, params).fetchall()
        out.append((time.perf_counter() - t) * 1000)
    return out[1:]


def _scan(plan: str) -> str:
    """The plan node that reads `recordings`, e.g. 'Index Scan using ix_… on recordings'."""
    for line in plan.splitlines():
        if " on recordings" in line:
            return line.strip().lstrip("-> ").split("  (")[0]
    return "?"


def query_bench(pg: Any, total: int, expired: int, reps: int) -> dict[str, Any]:
    from storage.catalogue.db import Catalogue

    url = pg.create_database(f"q{uuid.uuid4().hex[:10]}")
    cat = Catalogue(url)
    cat.migrate()
    destroyed = int(total * 0.7)
    boundary = destroyed + expired  # rows up to here have expired by NOW
    t = time.perf_counter()
    with cat.engine.begin() as conn:
        conn.execute(
            text(FILL), {"total": total, "destroyed": destroyed, "boundary": boundary, "now": NOW}
        )
    fill_s = time.perf_counter() - t
    dialect = cat.engine.dialect
    claim = claims.lock(claims.due(NOW), 200).compile(
        dialect=dialect, compile_kwargs={"literal_binds": True}
    )
    count = (
        select(func.count())
        .select_from(claims.due(NOW).order_by(None).subquery())
        .compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    )
    results: dict[str, Any] = {
        "rows": total,
        "destroyed": destroyed,
        "due": expired,
        "not_yet_expired": total - boundary,
        "fill_s": fill_s,
        "claim_sql": str(claim),
        "variants": {},
    }
    raw = pg.connect(cat.engine.url.database)
    try:
        raw.autocommit = True  # VACUUM and index DDL outside a transaction
        cur = raw.cursor()
        cur.execute("DROP INDEX ix_recordings_state_expires_at")
        for name, ddl in VARIANTS.items():
            for stmt in ddl:
                cur.execute(stmt)
            cur.execute("VACUUM ANALYZE recordings")
            with cat.engine.connect() as conn:
                found = conn.exec_driver_sql(str(count)).scalar()
                assert found == expired, found
                plan = "\n".join(
                    r[0]
                    for r in conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {claim}").fetchall()
                )
                claim_ms = timed(conn, str(claim), {}, reps)
                conn.rollback()
                count_plan = "\n".join(
                    r[0]
                    for r in conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {count}").fetchall()
                )
                count_ms = timed(conn, str(count), {}, reps)
            results["variants"][name] = {
                "claim_ms": statistics.median(claim_ms),
                "claim_samples_ms": claim_ms,
                "count_ms": statistics.median(count_ms),
                "count_samples_ms": count_ms,
                "explain_claim": plan,
                "explain_count": count_plan,
                "claim_scan": _scan(plan),
                "count_scan": _scan(count_plan),
            }
            for idx in ("ix_bench_expires_at", "ix_recordings_state_expires_at"):
                cur.execute(f"DROP INDEX IF EXISTS {idx}")
        cur.execute("CREATE INDEX ix_recordings_state_expires_at ON recordings (state, expires_at)")
        cur.execute(
            "SELECT pg_size_pretty(pg_relation_size('ix_recordings_state_expires_at')),"
            " pg_size_pretty(pg_relation_size('recordings'))"
        )
        results["index_size"], results["table_size"] = cur.fetchone()
    finally:
        raw.close()
        cat.close()
    return results


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="1,000 recordings, 100,000 rows")
    p.add_argument("--worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0
    n, total, expired, reps = (
        (1000, 100_000, 1000, 3) if args.quick else (10_000, 1_000_000, 10_000, 5)
    )
    out: dict[str, Any] = {
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "loadavg_start": os.getloadavg(),
        }
    }
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="purge-bench-") as tmp:
        work = Path(tmp)
        pg, s3 = start_postgres(work / "pg"), start_seaweedfs(work / "weed")
        try:
            with pg.connect("postgres") as c:
                out["machine"]["postgres"] = c.execute("SHOW server_version").fetchone()[0]
            out["runs"] = [one_run(work, pg, s3, n, b) for b in (200, 1000)]
            for r in out["runs"]:
                ph = ", ".join(f"{k} {v:.1f} s" for k, v in r["phases_s"].items())
                print(
                    f"one run, batch {r['batch']:>4}: {r['recordings']} recordings in "
                    f"{r['wall_s']:.1f} s = {r['per_s']:.0f}/s  ({ph}; seeding took "
                    f"{r['seed_s']:.1f} s)",
                    flush=True,
                )
            c = out["concurrent"] = concurrent_runs(work, pg, s3, n, 200)
            print(
                f"two concurrent runs, batch 200: {c['recordings']} in {c['wall_s']:.1f} s = "
                f"{c['per_s']:.0f}/s (each destroyed {c['destroyed_by_each']})",
                flush=True,
            )
            q = out["query"] = query_bench(pg, total, expired, reps)
            print(
                f"\n{q['rows']:,} rows ({q['destroyed']:,} destroyed, {q['due']:,} due, "
                f"{q['not_yet_expired']:,} not yet expired), filled in {q['fill_s']:.1f} s; "
                f"table {q['table_size']}, shipped index {q['index_size']}"
            )
            for name, v in q["variants"].items():
                print(
                    f"  {name:<36} claim (LIMIT 200) {v['claim_ms']:8.2f} ms   "
                    f"count all due {v['count_ms']:8.2f} ms"
                )
                print(f"  {'':<36} claim: {v['claim_scan']}; count: {v['count_scan']}")
            for name, v in q["variants"].items():
                print(
                    f"\n-- EXPLAIN (ANALYZE, BUFFERS) of the claim query, {name}:\n"
                    f"{v['explain_claim']}"
                )
        finally:
            s3.stop()
            pg.stop()
    out["total_s"] = time.perf_counter() - t0
    dest = ROOT / "bench" / "out" / ("purge.quick.json" if args.quick else "purge.json")
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(out, indent=2, default=str))
    print(f"\ntotal {out['total_s']:.0f} s; wrote {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
