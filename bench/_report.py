"""The machine description and the printed tables of bench/ingest.py (same figures as the JSON)."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STEPS = ("spool", "probe", "transcode", "encrypt", "upload", "commit", "finish")
MiB = 1024  # KiB per MiB: peak RSS figures are in KiB
CPU_HEADER = (
    "cx", "ffmpeg CPU s", "rec-s/CPU-s", "pipeline CPU s", "(py+child)", "rec-s/CPU-s",
    "pipe/ffmpeg", "pipe wall s", "MB/rec-h", "kbit/s", "vs WAV", "STOI L", "STOI R",
)  # fmt: skip


def machine() -> dict[str, Any]:
    """What this ran on; the figures only mean something next to it."""
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")),
                 platform.processor())  # fmt: skip
    ff = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True)
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "ffmpeg": ff.stdout.splitlines()[0],
        "loadavg_start": os.getloadavg(),
    }


def table(rows: list[list[str]]) -> str:
    """Plain fixed-width table; the first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def _cpu_rows(cx: dict[str, Any]) -> list[list[str]]:
    rows = [list(CPU_HEADER)]
    for c, r in cx.items():
        rows.append(
            [
                c,
                f"{r['ffmpeg_cpu_s']:.3f}",
                f"{r['ffmpeg_rec_s_per_cpu_s']:.0f}",
                f"{r['pipeline_cpu_s']:.3f}",
                f"{r['pipeline_python_cpu_s']:.2f}+{r['pipeline_children_cpu_s']:.2f}",
                f"{r['pipeline_rec_s_per_cpu_s']:.0f}",
                f"{r['pipeline_over_ffmpeg']:.3f}x",
                f"{r['pipeline_wall_s']:.2f}",
                f"{r['stored_bytes_per_hour'] / 1e6:.2f}",
                f"{r['kbit_s']:.1f}",
                f"{r['ratio_vs_wav']:.1f}x",
                f"{r['stoi'][0]:.4f}",
                f"{r['stoi'][1]:.4f}",
            ]
        )
    return rows


def _rss_rows(rss: dict[str, Any]) -> list[list[str]]:
    rows = [["run", "python peak", "child peak", "wall s", "py CPU s", "child CPU s"]]
    for k, r in rss.items():
        child = r["largest_child_peak_rss_kib"]
        rows.append(
            [
                k,
                f"{r['python_peak_rss_kib'] / MiB:.1f}",
                f"{child / MiB:.1f} {r['largest_child']}" if child else "n/a",
                f"{r['wall_s']:.2f}",
                f"{r['python_cpu_s']:.2f}",
                f"{r['children_cpu_s']:.2f}",
            ]
        )
    return rows


def report(res: dict[str, Any]) -> str:
    """The human-readable summary."""
    m, mode, cx = res["machine"], res["mode"], res["complexities"]
    q = cx[str(res["default_complexity"])]
    g, (first, last) = res["python_peak_growth_mib"], res["rss_span"]
    steps = [["cx", *STEPS]] + [
        [c, *(f"{r['steps_cpu_s'][k]:.3f} ({r['steps_wall_s'][k]:.3f})" for k in STEPS)]
        for c, r in cx.items()
    ]
    return "\n".join(
        [
            f"{m['cpu_model']}, {m['nproc']} CPUs, {m['date']}, {m['ffmpeg'][:30]}",
            f"load average {m['loadavg_start'][0]:.2f} -> {m['loadavg_end'][0]:.2f}; "
            f"{mode['call_s']:g} s stereo 8 kHz call, median of {mode['reps']} reps",
            "",
            "CPU (user+sys, parent+children), size and intelligibility per opus complexity (cx):",
            table(_cpu_rows(cx)),
            "",
            "Pipeline by step, median CPU s (wall s):",
            table(steps),
            "",
            f"Peak RSS in a fresh process, cx {res['default_complexity']} (MiB; child = largest "
            "ffmpeg/ffprobe, via /usr/bin/time):",
            table(_rss_rows(res["rss"])),
            f"python peak growth {first} -> {last}: ingest {g['ingest']:+.1f} MiB, "
            f"export {g['export']:+.1f} MiB",
            "",
            f"export (cx {res['default_complexity']}): lag {q['lag_samples']} samples, length diff "
            f"{q['length_diff_samples']} samples, WAV header sizes valid: "
            f"{q['export_wav_header_sizes_valid']}; encryption adds "
            f"{q['stored_bytes'] - q['opus_bytes']} bytes to {q['opus_bytes']}",
            f"whole run {res['elapsed_s']:.0f} s",
        ]
    )
