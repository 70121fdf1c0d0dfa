"""What bench/sip_capacity.py checks after a run: sipp's own record, and the catalogue's.

A recording is complete when it is stored (state "stored", complete, 2 channels), its duration
is within 2 % of the bridged time of its consent record (bridged_at -> ended_at), it is not
short of that time by more than 0.2 s (pjmedia's clock drops whole ticks when it falls more
than 500 ms behind: the audio of those ticks is lost although the file shows no silence), and
neither exported channel holds digital silence >= 200 ms between 0.5 s after the bridge and
0.3 s before the caller's BYE (from sipp's message trace). After the BYE the caller's stream
has stopped, so silence there is the time the agent took to act on the BYE, reported apart.
"""

from __future__ import annotations

import json
import math
import random
import re
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

from _sip_audio import frame_dbfs, gaps, read_wav
from sqlalchemy import select

from callvault.settings import load_settings
from callvault.wiring import Services
from storage.catalogue.models import CompressionJob, ConsentRecordRow, Recording

MAX_ERR, MAX_SHORT_S = 0.02, 0.2
_BLOCK = re.compile(
    r"^-{20,} (\S+ \S+)\n(UDP message \S+)[^\n]*\n\n([^\n]*)\n(.*?)(?=^-{20,} |\Z)", re.M | re.S
)


def ts(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))]


def spread(values: list[float]) -> dict[str, float | None]:
    return {
        "median": statistics.median(values) if values else None,
        "p95": pct(values, 95),
        "max": max(values, default=None),
    }


def sipp_stats(path: Path) -> dict[str, Any]:
    """Last row of a sipp -trace_stat CSV, plus the peak of CurrentCall."""
    text = path.read_text() if path.exists() else ""
    rows = [ln.rstrip(";\n").split(";") for ln in text.splitlines() if ln.strip()]
    if len(rows) < 2:
        return {}
    head, last = rows[0], dict(zip(rows[0], rows[-1], strict=False))
    keys = [k for k in head if k.startswith("Failed") and k.endswith("(C)")]
    keys += ["TotalCallCreated", "SuccessfulCall(C)", "Retransmissions(C)"]
    out: dict[str, Any] = {k: int(last[k]) for k in keys if last.get(k, "").isdigit()}
    out = {k: v for k, v in out.items() if v or not k.startswith("Failed")}
    if "CurrentCall" in head:
        i = head.index("CurrentCall")
        out["peak_current_calls"] = max(int(r[i]) for r in rows[1:] if r[i].isdigit())
    return out


def sipp_timeline(path: Path) -> dict[str, dict[str, float]]:
    """Per Call-ID, from sipp -trace_msg: when INVITE/BYE were sent and answered (epoch s)."""
    calls: dict[str, dict[str, float]] = {}
    text = path.read_text(errors="replace") if path.exists() else ""
    for when, how, first, rest in _BLOCK.findall(text):
        cid = re.search(r"^Call-ID: *(\S+)", rest, re.M)
        cseq = re.search(r"^CSeq: *\d+ (\w+)", rest, re.M)
        if not cid or not cseq:
            continue
        t, c = datetime.fromisoformat(when).timestamp(), calls.setdefault(cid.group(1), {})
        if "sent" in how and first.startswith(("INVITE", "BYE")):
            c.setdefault(first.split()[0].lower() + "_sent", t)
        elif "received" in how and first.startswith("SIP/2.0 200"):
            c.setdefault(cseq.group(1).lower() + "_200", t)
    return calls


def concurrency(spans: list[tuple[float, float]]) -> tuple[int, tuple[float, float, float]]:
    """Peak number of overlapping spans, and the longest window (start, end, mean level) in
    which at least 95 % of that peak overlap."""
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    level, peak, steps = 0, 0, []
    for t, d in events:
        level += d
        peak = max(peak, level)
        steps.append((t, level))
    best, start, area = (0.0, 0.0, 0.0), None, 0.0
    for (t, lvl), (t_next, _) in zip(steps, [*steps[1:], (steps[-1][0], 0)], strict=True):
        if peak and lvl >= 0.95 * peak:
            start = t if start is None else start
            area += lvl * (t_next - t)
            if t_next - start > best[1] - best[0]:
                best = (start, t_next, area / max(t_next - start, 1e-9))
        else:
            start, area = None, 0.0
    return peak, best


def mean_level(spans: list[tuple[float, float]], t0: float, t1: float) -> float:
    """Mean number of spans overlapping [t0, t1]."""
    inside = sum(max(0.0, min(b, t1) - max(a, t0)) for a, b in spans)
    return inside / (t1 - t0) if t1 > t0 else 0.0


def _check_call(
    c: dict[str, Any], rec: tuple[Any, ...], sip: dict[str, float], export: Path | None
) -> None:
    state, complete, channels, dur, ingested, _ = rec
    c.update(
        state=state,
        complete=complete,
        channels=channels,
        duration_s=dur,
        ingest_lag_s=ingested.timestamp() - c["ended_at"],
        duration_err=abs(dur - c["bridged_s"]) / c["bridged_s"],
        short_s=c["bridged_s"] - dur,
    )
    hi = dur - 0.5
    if "bye_sent" in sip:
        c["bye_to_hangup_s"] = c["ended_at"] - sip["bye_sent"]
        hi = min(hi, sip["bye_sent"] - c["bridged_at"] - max(c["short_s"], 0) - 0.3)
    if export is not None:  # else not scanned (--gap-sample): duration checks only
        chans = read_wav(export)
        c["gaps"] = [gaps(x, 0.5, hi) for x in chans]
        c["floor_dbfs"] = [float(frame_dbfs(x)[25 : int(hi * 50)].min()) for x in chans]
    c["ok"] = (
        state == "stored"
        and complete
        and channels == 2
        and not any(c.get("gaps", []))
        and c["duration_err"] <= MAX_ERR
        and c["short_s"] <= MAX_SHORT_S
    )


def check_catalogue(
    cfg: Path,
    wd: Path,
    n: int,
    sip: dict[str, dict[str, float]],
    keep: bool,
    gap_sample: int | None = None,
    steady_after_s: float | None = None,
) -> dict[str, Any]:
    """Every call's consent record and recording, exported and scanned for gaps (all of them,
    or `gap_sample` chosen at random). With `steady_after_s`, the window of the figures is
    the steady state: from the first bridge + steady_after_s to the last bridge."""
    svc = Services.build(load_settings(cfg, environ={}))
    try:
        with svc.catalogue.session() as s:
            docs = [
                (r.recording_id, json.loads(r.document))
                for r in s.scalars(select(ConsentRecordRow))
            ]
            recs = {
                r.id: (r.state, r.complete, r.channels, r.duration_s, r.ingested_at, r.format)
                for r in s.scalars(select(Recording))
            }
            jobs: dict[str, int] = {}
            for state in s.scalars(select(CompressionJob.state)):
                jobs[state] = jobs.get(state, 0) + 1
        scan = {rid for rid, doc in docs if doc.get("bridged_at") and doc.get("ended_at")}
        if gap_sample is not None and gap_sample < len(scan):
            scan = set(random.Random(0).sample(sorted(scan), gap_sample))
        calls: list[dict[str, Any]] = []
        outcomes: dict[str, int] = {}
        for rid, doc in docs:
            outcomes[doc["outcome"]] = outcomes.get(doc["outcome"], 0) + 1
            c: dict[str, Any] = {
                "id": rid,
                "outcome": doc["outcome"],
                "ok": False,
                "bridged_at": ts(doc.get("bridged_at")),
                "ended_at": ts(doc.get("ended_at")),
            }
            if c["bridged_at"] and c["ended_at"]:
                c["bridged_s"] = c["ended_at"] - c["bridged_at"]
            if rid in recs and "bridged_s" in c:
                out = wd / "export" / f"{rid}.wav"
                if rid in scan:
                    svc.recordings().export(
                        rid, out, reason="sip capacity bench: gap check", actor="bench", fmt="wav"
                    )
                _check_call(c, recs[rid], sip.get(doc["call_id"], {}), out if rid in scan else None)
                if not keep:
                    out.unlink(missing_ok=True)
            calls.append(c)
    finally:
        svc.close()
    spans = [(c["bridged_at"], c["ended_at"]) for c in calls if "bridged_s" in c]
    peak, window = concurrency(spans) if spans else (0, (0.0, 0.0, 0.0))
    steady: dict[str, Any] = {}
    if steady_after_s is not None and spans:
        t0, t1 = min(a for a, _ in spans) + steady_after_s, max(a for a, _ in spans)
        window = (t0, t1, mean_level(spans, t0, t1))
        ended = [c for c in calls if "ingest_lag_s" in c and t0 <= c["ended_at"] <= t1]
        steady = {
            "steady_calls_ended": len(ended),
            "steady_ingest_lag_s": spread([c["ingest_lag_s"] for c in ended]),
            "steady_complete": sum(c["ok"] for c in ended),
        }
    gapped = [c for c in calls if any(c.get("gaps", []))]
    floors = [c["floor_dbfs"] for c in calls if "floor_dbfs" in c]
    timeline = list(sip.values())
    formats: dict[str, int] = {}
    for r in recs.values():
        formats[r[5]] = formats.get(r[5], 0) + 1
    return {
        **steady,
        "formats": formats,
        "compression_jobs": jobs,
        "compressed_recorded_s": sum(r[3] or 0 for r in recs.values() if r[5] != "wav"),
        "recorded_s": sum(r[3] or 0 for r in recs.values()),
        "gaps_scanned": sum("gaps" in c for c in calls),
        "consent_records": len(docs),
        "outcomes": outcomes,
        "bridged": len(spans),
        "stored": sum("duration_s" in c for c in calls),
        "complete": sum(c["ok"] for c in calls),
        "all_complete": sum(c["ok"] for c in calls) == n == len(docs),
        "peak_concurrent": peak,
        "live_span": (min(a for a, _ in spans), max(b for _, b in spans)) if spans else (0, 0),
        "window": window,
        "bridged_s_mean": statistics.fmean(b - a for a, b in spans) if spans else None,
        "duration_err_max": max(
            (c["duration_err"] for c in calls if "duration_err" in c), default=None
        ),
        "short_over_0_2s": sum(c.get("short_s", 0) > MAX_SHORT_S for c in calls),
        "short_max_s": max((c["short_s"] for c in calls if "short_s" in c), default=None),
        "calls_with_gaps": len(gapped),
        "longest_gap_s": max((g[1] for c in gapped for ch in c["gaps"] for g in ch), default=0),
        "quietest_frame_dbfs": [min(f[i] for f in floors) for i in (0, 1)] if floors else None,
        "ingest_lag_s": spread([c["ingest_lag_s"] for c in calls if "ingest_lag_s" in c]),
        "bye_to_hangup_s": spread([c["bye_to_hangup_s"] for c in calls if "bye_to_hangup_s" in c]),
        "invite_to_200_s": spread(
            [
                t["invite_200"] - t["invite_sent"]
                for t in timeline
                if "invite_200" in t and "invite_sent" in t
            ]
        ),
        "bye_to_200_s": spread(
            [t["bye_200"] - t["bye_sent"] for t in timeline if "bye_200" in t and "bye_sent" in t]
        ),
        "not_ok_examples": [c for c in calls if not c["ok"]][:5],
        "stranded_in_spool": [
            p.name for d in ("calls", "jobs") for p in (wd / "var/spool" / d).glob("*")
        ],
    }
