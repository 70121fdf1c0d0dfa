"""Figures and the printed table of bench/sip_capacity.py (the same figures as the JSON)."""

from __future__ import annotations

import statistics
from typing import Any

from _report import table
from _sip_procs import Sampler


def cpu_figures(
    res: dict[str, Any], idle: Sampler, sampler: Sampler, last_bye: float, idle_at: float | None
) -> dict[str, Any]:
    """Agent CPU / RSS per call over the all-bridged window, sipp CPU, the agent's threads."""
    i0, i1 = idle.samples[0], idle.samples[-1]
    idle_cpu = (i1.procs["agent"][0] - i0.procs["agent"][0]) / (i1.t - i0.t) * 100
    idle_rss = i1.procs["agent"][2]
    t0, t1, level = res["window"]
    out: dict[str, Any] = {
        "agent_idle_cpu_pct": idle_cpu,
        "agent_idle_rss_mib": idle_rss,
        "window_s": t1 - t0,
        "window_mean_concurrent": level,
    }
    pair = sampler.window(t0 + 0.5, t1 - 0.5)
    if pair and level:
        a, b = pair
        dt = b.t - a.t
        cpu = {k: (b.procs[k][0] - a.procs[k][0]) / dt * 100 for k in b.procs if k in a.procs}
        rss = statistics.fmean(s.procs["agent"][2] for s in sampler.samples if a.t <= s.t <= b.t)
        threads = {
            f"{sampler.labels.get(t, 'other')}:{t}": (v - a.threads.get(t, 0.0)) / dt * 100
            for t, v in b.threads.items()
        }
        out.update(
            measured_s=dt,
            agent_cpu_pct=cpu.get("agent"),
            agent_rss_mib=rss,
            agent_cpu_pct_per_call=(cpu["agent"] - idle_cpu) / level,
            # the record stage: CPU-s of the agent per hour of one recorded (dual-channel) call
            record_cpu_s_per_call_h=(cpu["agent"] - idle_cpu) / level / 100 * 3600,
            workers_cpu_pct=sum(v for k, v in cpu.items() if k.startswith("worker")),
            agent_rss_mib_per_call=(rss - idle_rss) / level,
            sipp_cpu_pct={k: cpu.get(k) for k in ("uac", "uas")},
            agent_threads_cpu_pct={
                k: round(v, 1) for k, v in sorted(threads.items(), key=lambda kv: -kv[1])[:5]
            },
        )
    f, g = sampler.samples[0], sampler.samples[-1]  # the workers over the whole run
    wcpu = sum(sum(g.procs[k][:2]) - sum(f.procs[k][:2]) for k in g.procs if k.startswith("worker"))
    hours = res.get("compressed_recorded_s", 0) / 3600
    out["workers_cpu_s"] = wcpu
    out["compress_cpu_s_per_recorded_h"] = wcpu / hours if hours else None
    if idle_at:  # the hand-off: from the last BYE until the spool is empty (agent + ffmpeg)
        burst = [s for s in sampler.samples if s.t >= last_bye]
        if len(burst) >= 2:
            f, g = burst[0], burst[-1]
            out["drain_agent_cpu_s"] = sum(g.procs["agent"][:2]) - sum(f.procs["agent"][:2])
    return out


def fmt(v: Any, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def summary(steps: list[dict[str, Any]]) -> str:
    rows = [
        [
            "N",
            "placed",
            "bridged",
            "peak",
            "complete",
            "err max %",
            "short>0.2s",
            "gaps",
            "CPU %/call",
            "agent CPU %",
            "RSS MB/call",
            "BYE->commit med/p95 s",
            "BYE->hangup p95/max s",
            "notice->ring med/p95 s",
            "sipp CPU %",
            "record CPU-s/h",
            "compressed",
            "SIP retrans",
            "stalls",
        ]
    ]
    for r in (r for r in steps if "error" not in r):
        sipp = r.get("sipp_cpu_pct") or {}
        lag, bye = r["ingest_lag_s"], r["bye_to_hangup_s"]
        ring = r.get("notice_to_ringing_s") or {}
        err = r["duration_err_max"]
        rows.append(
            [
                str(r["n"]),
                str(r["uac"].get("TotalCallCreated", "?")),
                str(r["bridged"]),
                str(r["peak_concurrent"]),
                f"{r['complete']}/{r['n']}",
                fmt(None if err is None else err * 100),
                str(r["short_over_0_2s"]),
                f"{r['calls_with_gaps']} ({r['longest_gap_s']:.2f} s)",
                fmt(r.get("agent_cpu_pct_per_call"), ".3f"),
                fmt(r.get("agent_cpu_pct"), ".0f"),
                fmt(r.get("agent_rss_mib_per_call"), ".3f"),
                f"{fmt(lag['median'], '.1f')}/{fmt(lag['p95'], '.1f')}",
                f"{fmt(bye['p95'], '.2f')}/{fmt(bye['max'], '.2f')}",
                f"{fmt(ring.get('median'), '.3f')}/{fmt(ring.get('p95'), '.3f')}",
                f"{fmt(sipp.get('uac'), '.0f')}+{fmt(sipp.get('uas'), '.0f')}",
                fmt(r.get("record_cpu_s_per_call_h"), ".1f"),
                f"{r.get('formats', {}).get('opus', 0)}/{r['stored']}",
                "/".join(str(r[k].get("Retransmissions(C)", "?")) for k in ("uac", "uas")),
                ",".join(f"{s['thread']} {s['length_s']:.2f}" for s in r["thread_stalls"]) or "0",
            ]
        )
    return table(rows)


def capacity(steps: list[dict[str, Any]]) -> int:
    """Largest N that passed in every run, with every smaller N passing too."""
    best = 0
    for n in sorted({r["n"] for r in steps}):
        if not all(r["all_complete"] for r in steps if r["n"] == n):
            break
        best = n
    return best
