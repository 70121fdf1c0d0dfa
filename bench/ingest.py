#!/usr/bin/env python3
"""Ingest benchmark: CPU per recorded second, bytes per hour, STOI and peak RSS, in one run.

    .venv/bin/python bench/ingest.py [--quick]        (or `make bench`)

1. CPU (user+system, this process + waited-for children) of the real ingest pipeline
   (spool → probe → transcode → encrypt → upload → commit, embedded default in a temp dir)
   against bare `ffmpeg` with the pipeline's own libopus arguments, at several opus
   complexities, repetitions interleaved so machine noise hits every variant alike.
2. Stored bytes per recorded hour against 8 kHz stereo 16-bit WAV, and STOI of each channel
   of the audio exported through `Recordings.export(..., fmt="wav")` against the original.
3. Peak RSS of a fresh `callvault ingest` / `recordings export` process (and of its largest
   ffmpeg/ffprobe child) for the short call and a 2-hour call: it must not grow with length.

Prints tables and writes bench/out/ingest.json. Only ratios within one run are comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _audio import loop_to, make_call, read_wav, stoi_per_channel  # noqa: E402

from callvault.settings import AudioSettings, load_settings  # noqa: E402
from callvault.wiring import Services  # noqa: E402
from storage.catalogue.models import Recording  # noqa: E402
from storage.ingest import IngestRequest  # noqa: E402
from storage.spool import Job  # noqa: E402

COMPLEXITIES = (0, 3, 5, 10)
WAV_BYTES_PER_HOUR = 8000 * 2 * 2 * 3600
STEPS = ("spool", "probe", "transcode", "encrypt", "upload", "commit", "finish")
MiB = 1024


@dataclass(frozen=True)
class Mode:
    """How much work one run does."""

    reps: int
    call_s: float
    long_s: float


FULL, QUICK = Mode(reps=7, call_s=300, long_s=7200), Mode(reps=2, call_s=60, long_s=600)


def cpu() -> tuple[float, float]:
    """CPU seconds so far: (this process, children it has waited for)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


class Vault:
    """An embedded-default callvault (SQLite + local store + local keys) in its own directory."""

    def __init__(self, root: Path, complexity: int) -> None:
        root.mkdir(parents=True)
        self.config = root / "callvault.toml"
        self.config.write_text(f"[audio]\nopus_complexity = {complexity}\n")
        self.services = Services.build(load_settings(self.config, environ={}))
        self.services.init()
        self.pipeline = self.services.pipeline(on_step=self._mark)
        self._marks: list[tuple[float, float, float]] = []

    def _mark(self, state: str, job: Job | None = None) -> None:
        self._marks.append((*cpu(), time.perf_counter()))

    def ingest(self, src: Path, call_id: str) -> dict[str, Any]:
        """One ingest through the real pipeline: its CPU split, wall time and per-step CPU."""
        self._marks = []
        self._mark("start")
        result = self.pipeline.ingest(
            src, IngestRequest(call_id=call_id, caller="+441632960001", case_ids=("C-7741",)),
            actor="bench",
        )
        self._mark("done")
        if result.state != "stored":
            raise RuntimeError(f"ingest {call_id}: {result.state} {result.message}")
        # marks: start, spooled, probed, transcoded, encrypted, uploaded, committed, done
        if len(self._marks) != len(STEPS) + 1:
            raise RuntimeError(f"expected {len(STEPS) + 1} step marks, got {len(self._marks)}")
        (s0, c0, w0), (s1, c1, w1) = self._marks[0], self._marks[-1]
        steps = {name: (b[0] + b[1]) - (a[0] + a[1])
                 for name, a, b in zip(STEPS, self._marks[:-1], self._marks[1:], strict=True)}
        return {"id": result.recording_id, "python_cpu_s": s1 - s0, "children_cpu_s": c1 - c0,
                "cpu_s": (s1 - s0) + (c1 - c0), "wall_s": w1 - w0, "steps_cpu_s": steps}

    def bare_ffmpeg(self, src: Path, dst: Path) -> dict[str, Any]:
        """The pipeline's transcode command, run alone (the exact encoder arguments it uses)."""
        audio = self.services.audio
        cmd = [audio.ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-xerror", "-y",
               "-i", str(src), "-map", "0:a:0", "-map_metadata", "-1",
               *audio._encode_args("opus"), str(dst)]
        _, c0 = cpu()
        w0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        w1 = time.perf_counter()
        return {"cpu_s": cpu()[1] - c0, "wall_s": w1 - w0, "bytes": dst.stat().st_size,
                "argv": cmd[13:-1]}

    def quality(self, rid: str, original: Path, out: Path) -> dict[str, Any]:
        """Stored bytes per recorded hour, and STOI of the exported WAV against the original."""
        with self.services.catalogue.session() as s:
            rec = s.get(Recording, rid)
            assert rec is not None
            stored, plain, dur = rec.stored_bytes, rec.plaintext_bytes, rec.duration_s
        self.services.recordings().export(rid, out, reason="benchmark: STOI", actor="bench",
                                          fmt="wav")
        ref, deg = read_wav(original), read_wav(out)
        scores, lag, extra = stoi_per_channel(ref, deg)
        per_hour = stored * 3600 / dur
        return {"stored_bytes": stored, "opus_bytes": plain, "duration_s": dur,
                "stored_bytes_per_hour": per_hour, "kbit_s": stored * 8 / dur / 1000,
                "ratio_vs_wav": WAV_BYTES_PER_HOUR / per_hour, "stoi": scores,
                "lag_samples": lag, "length_diff_samples": extra,
                "export_wav_header_sizes_valid": deg.header_sizes_valid}


def cli(config: Path, report: Path, *args: str) -> tuple[dict[str, Any], str]:
    """Run `callvault --config CONFIG ARGS` in a fresh process; (resource report, stdout)."""
    cmd = [sys.executable, str(BENCH / "_rss_child.py"), str(report), "--",
           "--config", str(config), *args]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return json.loads(report.read_text()), r.stdout


def memory(config: Path, calls: dict[str, Path], tmp: Path) -> dict[str, dict[str, Any]]:
    """Peak RSS of ingest and WAV export, each in a fresh process, for each call."""
    out: dict[str, dict[str, Any]] = {}
    out["baseline (recordings list)"], _ = cli(config, tmp / "r.json", "recordings", "list",
                                               "--json")
    for label, src in calls.items():
        rep, stdout = cli(config, tmp / "r.json", "ingest", str(src), "--call-id",
                          f"rss-{label}", "--json")
        rid = json.loads(stdout)["id"]
        out[f"ingest {label}"] = rep
        dst = tmp / f"export-{label}.wav"
        out[f"export {label} (wav)"], _ = cli(config, tmp / "r.json", "recordings", "export",
                                              rid, "--out", str(dst), "--reason", "bench rss",
                                              "--format", "wav")
        out[f"export {label} (wav)"]["bytes"] = dst.stat().st_size
        dst.unlink()
    return out


def machine() -> dict[str, Any]:
    """What this ran on; the figures only mean something next to it."""
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                  .splitlines() if ln.startswith("model name")), platform.processor())
    ff = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    return {"nproc": os.cpu_count(), "cpu_model": model, "date": datetime.now(UTC).isoformat(),
            "python": platform.python_version(), "ffmpeg": ff.splitlines()[0],
            "loadavg_start": os.getloadavg()}


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def run(mode: Mode, tmp: Path) -> dict[str, Any]:
    """All measurements, in one process, on one set of test audio."""
    info = machine()
    t0 = time.perf_counter()
    call = make_call(tmp / "call.wav", mode.call_s)
    vaults = {c: Vault(tmp / f"vault-c{c}", c) for c in COMPLEXITIES}
    warm = {c: v.ingest(call, f"warm-{c}") for c, v in vaults.items()}  # not measured
    samples: dict[int, dict[str, list[dict[str, Any]]]] = {
        c: {"ffmpeg": [], "pipeline": []} for c in COMPLEXITIES}
    for rep in range(mode.reps):  # interleaved: drift in machine load hits every variant
        order = COMPLEXITIES if rep % 2 == 0 else COMPLEXITIES[::-1]
        for c in order:
            samples[c]["ffmpeg"].append(vaults[c].bare_ffmpeg(call, tmp / f"bare-c{c}.ogg"))
            samples[c]["pipeline"].append(vaults[c].ingest(call, f"bench-{c}-{rep}"))
    results: dict[str, Any] = {}
    for c in COMPLEXITIES:
        ff, pl = samples[c]["ffmpeg"], samples[c]["pipeline"]
        f_cpu, p_cpu = med([s["cpu_s"] for s in ff]), med([s["cpu_s"] for s in pl])
        results[str(c)] = {
            "ffmpeg_cpu_s": f_cpu, "ffmpeg_rec_s_per_cpu_s": mode.call_s / f_cpu,
            "pipeline_cpu_s": p_cpu, "pipeline_rec_s_per_cpu_s": mode.call_s / p_cpu,
            "pipeline_over_ffmpeg": med([p["cpu_s"] / f["cpu_s"] for f, p in zip(ff, pl)]),
            "pipeline_python_cpu_s": med([s["python_cpu_s"] for s in pl]),
            "pipeline_children_cpu_s": med([s["children_cpu_s"] for s in pl]),
            "pipeline_wall_s": med([s["wall_s"] for s in pl]),
            "ffmpeg_wall_s": med([s["wall_s"] for s in ff]),
            "steps_cpu_s": {k: med([s["steps_cpu_s"][k] for s in pl]) for k in STEPS},
            "ffmpeg_argv": ff[0]["argv"], "samples": samples[c],
            **vaults[c].quality(warm[c]["id"], call, tmp / f"export-c{c}.wav"),
        }
    default = AudioSettings().opus_complexity
    long_call = loop_to(call, tmp / "long.wav", mode.long_s)
    rss = memory(vaults[default].config, {f"{mode.call_s / 60:g} min": call,
                                          f"{mode.long_s / 3600:g} h": long_call}, tmp)
    for v in vaults.values():
        v.services.close()
    info["loadavg_end"] = os.getloadavg()
    return {"machine": info, "mode": mode.__dict__, "complexities": results,
            "default_complexity": default, "rss": rss, "elapsed_s": time.perf_counter() - t0}


def table(rows: list[list[str]]) -> str:
    """Plain fixed-width table; the first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def report(res: dict[str, Any]) -> str:
    """The human-readable summary (the same figures as the JSON)."""
    m, mode, cx = res["machine"], res["mode"], res["complexities"]
    out = [f"{m['cpu_model']}, {m['nproc']} CPUs, {m['date'][:19]}Z, {m['ffmpeg']}",
           f"load average {m['loadavg_start'][0]:.2f} -> {m['loadavg_end'][0]:.2f}; "
           f"{mode['call_s']:g} s stereo 8 kHz call, median of {mode['reps']} reps",
           "", "CPU (user+sys, parent+children) and size/intelligibility, per opus complexity:"]
    rows = [["cx", "ffmpeg CPU s", "rec-s/CPU-s", "pipeline CPU s", "(py+child)", "rec-s/CPU-s",
             "pipe/ffmpeg", "wall s", "MB/rec-h", "kbit/s", "vs WAV", "STOI L", "STOI R"]]
    for c, r in cx.items():
        rows.append([c, f"{r['ffmpeg_cpu_s']:.3f}", f"{r['ffmpeg_rec_s_per_cpu_s']:.0f}",
                     f"{r['pipeline_cpu_s']:.3f}",
                     f"{r['pipeline_python_cpu_s']:.2f}+{r['pipeline_children_cpu_s']:.2f}",
                     f"{r['pipeline_rec_s_per_cpu_s']:.0f}", f"{r['pipeline_over_ffmpeg']:.2f}x",
                     f"{r['pipeline_wall_s']:.2f}", f"{r['stored_bytes_per_hour'] / 1e6:.2f}",
                     f"{r['kbit_s']:.1f}", f"{r['ratio_vs_wav']:.1f}x", f"{r['stoi'][0]:.4f}",
                     f"{r['stoi'][1]:.4f}"])
    out += [table(rows), "", "Pipeline CPU by step (median s; the rest is between steps):"]
    rows = [["cx", *STEPS]] + [[c, *(f"{r['steps_cpu_s'][k]:.3f}" for k in STEPS)]
                               for c, r in cx.items()]
    out += [table(rows), "", f"Peak RSS in a fresh process, complexity {res['default_complexity']}"
            " (MiB; child = largest ffmpeg/ffprobe):"]
    rows = [["run", "python peak", "child peak", "wall s", "py CPU s", "child CPU s"]]
    for k, r in res["rss"].items():
        rows.append([k, f"{r['python_peak_rss_kib'] / MiB:.1f}",
                     f"{r['largest_child_peak_rss_kib'] / MiB:.1f}", f"{r['wall_s']:.2f}",
                     f"{r['python_cpu_s']:.2f}", f"{r['children_cpu_s']:.2f}"])
    out.append(table(rows))
    q = next(iter(cx.values()))
    out += ["", f"export: lag {q['lag_samples']} samples, length diff "
            f"{q['length_diff_samples']} samples, WAV header sizes valid: "
            f"{q['export_wav_header_sizes_valid']}; whole run {res['elapsed_s']:.0f} s"]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 reps, 1-min and 10-min calls")
    ap.add_argument("--out", type=Path, help="default bench/out/ingest.json (ingest.quick.json)")
    args = ap.parse_args()
    args.out = args.out or BENCH / "out" / ("ingest.quick.json" if args.quick else "ingest.json")
    with tempfile.TemporaryDirectory(prefix="callvault-bench-") as tmp:
        res = run(QUICK if args.quick else FULL, Path(tmp))
    res["quick"] = args.quick
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(report(res))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
