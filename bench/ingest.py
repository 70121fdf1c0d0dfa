#!/usr/bin/env python3
"""Ingest benchmark: CPU per recorded second, bytes per hour, STOI and peak RSS, in one run.

    .venv/bin/python bench/ingest.py [--quick]        (or `make bench`)

1. CPU (user+system, this process + waited-for children) of the real ingest pipeline
   (spool → probe → transcode → encrypt → upload → commit, embedded default in a temp dir)
   against bare `ffmpeg` with the pipeline's own libopus arguments, at several opus
   complexities; repetitions are interleaved so machine noise hits every variant alike.
2. Stored bytes per recorded hour against 8 kHz stereo 16-bit WAV, and STOI of each channel
   of the audio exported through `Recordings.export(..., fmt="wav")` against the original.
3. Peak RSS of a fresh `callvault ingest` / `recordings export` process (and of its largest
   ffmpeg/ffprobe child) for the short call and longer ones: it must not grow with length.

Prints tables and writes bench/out/ingest.json. Only ratios within one run are comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
# bench/ last on the path: its portal.py must not shadow the portal package.
sys.path[:] = [str(BENCH.parent)] + [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.append(str(BENCH))

from _audio import loop_to, make_call, read_wav, stoi_per_channel  # noqa: E402
from _report import STEPS, MiB, machine, report  # noqa: E402

from callvault.settings import AudioSettings, load_settings  # noqa: E402
from callvault.wiring import Services  # noqa: E402
from storage.catalogue.models import Recording  # noqa: E402
from storage.ingest import IngestRequest  # noqa: E402
from storage.spool import Job  # noqa: E402

COMPLEXITIES = (0, 3, 5, 10)
WAV_BYTES_PER_HOUR = 8000 * 2 * 2 * 3600
TIME = "/usr/bin/time"  # GNU time, for the peak RSS of ffmpeg/ffprobe children


@dataclass(frozen=True)
class Mode:
    """How much work one run does."""

    reps: int
    call_s: float
    long_s: tuple[float, ...]  # the longer calls for the memory test


FULL = Mode(reps=9, call_s=300, long_s=(1800, 7200))
QUICK = Mode(reps=2, call_s=60, long_s=(600,))


def cpu() -> tuple[float, float]:
    """CPU seconds so far: (this process, children it has waited for)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def med(xs: list[float]) -> float:
    return statistics.median(xs)


class Vault:
    """An embedded-default callvault (SQLite + local store + local keys) in its own directory."""

    def __init__(self, root: Path, complexity: int, audio_extra: str = "") -> None:
        root.mkdir(parents=True)
        self.config = root / "callvault.toml"
        # Transcoded at ingest: this bench compares the encoder settings (bench/compress.py
        # measures the default, commit fast and compress later).
        self.config.write_text(
            f'[audio]\nopus_complexity = {complexity}\ncompress = "at-ingest"\n{audio_extra}'
        )
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
        request = IngestRequest(call_id=call_id, caller="+441632960001", case_ids=("C-7741",))
        result = self.pipeline.ingest(src, request, actor="bench")
        self._mark("done")
        if result.state != "stored":
            raise RuntimeError(f"ingest {call_id}: {result.state} {result.message}")
        # marks: start, spooled, probed, transcoded, encrypted, uploaded, committed, done
        if len(self._marks) != len(STEPS) + 1:
            raise RuntimeError(f"expected {len(STEPS) + 1} step marks, got {len(self._marks)}")
        (s0, c0, w0), (s1, c1, w1) = self._marks[0], self._marks[-1]
        pairs = list(zip(STEPS, self._marks[:-1], self._marks[1:], strict=True))
        return {
            "id": result.recording_id,
            "python_cpu_s": s1 - s0,
            "children_cpu_s": c1 - c0,
            "cpu_s": (s1 - s0) + (c1 - c0),
            "wall_s": w1 - w0,
            "steps_cpu_s": {k: (b[0] + b[1]) - (a[0] + a[1]) for k, a, b in pairs},
            "steps_wall_s": {k: b[2] - a[2] for k, a, b in pairs},
        }

    def bare_ffmpeg(self, src: Path, dst: Path) -> dict[str, Any]:
        """The pipeline's transcode command run alone, with the exact encoder arguments."""
        audio = self.services.audio
        args = audio._encode_args("opus")  # deliberate: the very arguments the pipeline uses
        cmd = [audio.ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-xerror", "-y",
               "-i", str(src), "-map", "0:a:0", "-map_metadata", "-1", *args, str(dst)]  # fmt: skip
        c0, w0 = cpu()[1], time.perf_counter()
        subprocess.run(cmd, check=True)
        c1, w1 = cpu()[1], time.perf_counter()
        return {"cpu_s": c1 - c0, "wall_s": w1 - w0, "bytes": dst.stat().st_size, "argv": args}

    def quality(self, rid: str, original: Path, out: Path) -> dict[str, Any]:
        """Stored bytes per recorded hour, and STOI of the exported WAV against the original."""
        with self.services.catalogue.session() as s:
            rec = s.get(Recording, rid)
            assert rec is not None
            stored, plain, dur = rec.stored_bytes, rec.plaintext_bytes, rec.duration_s
        recordings = self.services.recordings()
        recordings.export(rid, out, reason="benchmark: STOI", actor="bench", fmt="wav")
        deg = read_wav(out)
        scores, lag, extra = stoi_per_channel(read_wav(original), deg)
        return {
            "stored_bytes": stored,
            "opus_bytes": plain,
            "duration_s": dur,
            "stored_bytes_per_hour": stored * 3600 / dur,
            "kbit_s": stored * 8 / dur / 1000,
            "ratio_vs_wav": WAV_BYTES_PER_HOUR / (stored * 3600 / dur),
            "stoi": scores,
            "lag_samples": lag,
            "length_diff_samples": extra,
            "export_wav_header_sizes_valid": deg.header_sizes_valid,
        }


def timed_tools(tmp: Path) -> tuple[str, Path]:
    """[audio] lines pointing ffmpeg/ffprobe at wrappers that log each run's peak RSS.

    /usr/bin/time forks a ~2 MiB copy of itself before exec'ing the tool, so its %M is the
    tool's own peak (RUSAGE_CHILDREN would carry over the Python parent's high-water mark).
    """
    log, lines = tmp / "children.log", ""
    for tool in ("ffmpeg", "ffprobe"):
        real, wrapper = shutil.which(tool), tmp / f"timed-{tool}"
        wrapper.write_text(f'#!/bin/sh\nexec {TIME} -a -o "{log}" -f "%M {tool}" "{real}" "$@"\n')
        wrapper.chmod(0o755)
        lines += f'{tool} = "{wrapper}"\n'
    return lines, log


def memory(tmp: Path, complexity: int, calls: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Peak RSS of ingest and WAV export, each in a fresh `callvault` process, per call."""
    extra, log = timed_tools(tmp) if Path(TIME).is_file() else ("", tmp / "absent.log")
    config = Vault(tmp / "vault-rss", complexity, extra).config
    out: dict[str, dict[str, Any]] = {}

    def measure(label: str, *args: str) -> str:
        log.write_text("")
        report_file = tmp / "rss.json"
        cmd = [sys.executable, str(BENCH / "_rss_child.py"), str(report_file), "--",
               "--config", str(config), *args]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"callvault {' '.join(args)}: exit {r.returncode}: {r.stderr}")
        out[label] = json.loads(report_file.read_text())
        peaks = [ln.split() for ln in log.read_text().splitlines() if ln[:1].isdigit()]
        top = max(peaks, key=lambda p: int(p[0]), default=None)
        out[label]["largest_child_peak_rss_kib"] = int(top[0]) if top else None
        out[label]["largest_child"] = top[1] if top else None
        return r.stdout

    measure("baseline (recordings list)", "recordings", "list", "--json")
    for name, src in calls.items():
        ingest_args = ("ingest", str(src), "--call-id", f"rss-{name}", "--json")
        rid = json.loads(measure(f"ingest {name}", *ingest_args))["id"]
        dst = tmp / f"export-{name}.wav"
        export_args = ("recordings", "export", rid, "--out", str(dst), "--reason", "bench rss")
        measure(f"export {name}", *export_args, "--format", "wav")
        out[f"export {name}"]["bytes"] = dst.stat().st_size
        dst.unlink()
    return out


def summarise(call_s: float, ff: list[dict[str, Any]], pl: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the repetitions of one complexity (ratios taken per repetition)."""
    f_cpu, p_cpu = med([s["cpu_s"] for s in ff]), med([s["cpu_s"] for s in pl])
    ratios = [p["cpu_s"] / f["cpu_s"] for f, p in zip(ff, pl, strict=True)]
    return {
        "ffmpeg_cpu_s": f_cpu,
        "ffmpeg_rec_s_per_cpu_s": call_s / f_cpu,
        "ffmpeg_wall_s": med([s["wall_s"] for s in ff]),
        "pipeline_cpu_s": p_cpu,
        "pipeline_rec_s_per_cpu_s": call_s / p_cpu,
        "pipeline_over_ffmpeg": med(ratios),
        "pipeline_python_cpu_s": med([s["python_cpu_s"] for s in pl]),
        "pipeline_children_cpu_s": med([s["children_cpu_s"] for s in pl]),
        "pipeline_wall_s": med([s["wall_s"] for s in pl]),
        "steps_cpu_s": {k: med([s["steps_cpu_s"][k] for s in pl]) for k in STEPS},
        "steps_wall_s": {k: med([s["steps_wall_s"][k] for s in pl]) for k in STEPS},
        "ffmpeg_argv": ff[0]["argv"],
        "samples": {"ffmpeg": ff, "pipeline": pl},
    }


def run(mode: Mode, tmp: Path) -> dict[str, Any]:
    """All measurements, in one process, on one set of test audio."""
    info, t0 = machine(), time.perf_counter()
    call = make_call(tmp / "call.wav", mode.call_s)
    vaults = {c: Vault(tmp / f"vault-c{c}", c) for c in COMPLEXITIES}
    warm = {c: v.ingest(call, f"warm-{c}") for c, v in vaults.items()}  # not measured
    ff: dict[int, list[dict[str, Any]]] = {c: [] for c in COMPLEXITIES}
    pl: dict[int, list[dict[str, Any]]] = {c: [] for c in COMPLEXITIES}
    for rep in range(mode.reps):  # interleaved: drift in machine load hits every variant
        for c in COMPLEXITIES if rep % 2 == 0 else COMPLEXITIES[::-1]:
            ff[c].append(vaults[c].bare_ffmpeg(call, tmp / f"bare-c{c}.ogg"))
            pl[c].append(vaults[c].ingest(call, f"bench-{c}-{rep}"))
    results = {
        str(c): summarise(mode.call_s, ff[c], pl[c])
        | vaults[c].quality(warm[c]["id"], call, tmp / f"export-c{c}.wav")
        for c in COMPLEXITIES
    }
    for v in vaults.values():
        v.services.close()
    default = AudioSettings().opus_complexity
    calls = {f"{mode.call_s / 60:g} min": call} | {
        f"{s / 60:g} min": loop_to(call, tmp / f"long-{s:g}.wav", s) for s in mode.long_s
    }
    rss = memory(tmp, default, calls)
    first, last = next(iter(calls)), list(calls)[-1]
    peak = {k: r["python_peak_rss_kib"] / MiB for k, r in rss.items()}
    growth = {op: peak[f"{op} {last}"] - peak[f"{op} {first}"] for op in ("ingest", "export")}
    info["loadavg_end"] = os.getloadavg()
    return {
        "machine": info,
        "mode": asdict(mode),
        "complexities": results,
        "default_complexity": default,
        "rss": rss,
        "rss_span": [first, last],
        "python_peak_growth_mib": growth,
        "elapsed_s": time.perf_counter() - t0,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 reps, 1- and 10-min calls")
    ap.add_argument("--out", type=Path, help="default bench/out/ingest.json (ingest.quick.json)")
    args = ap.parse_args()
    out = args.out or BENCH / "out" / ("ingest.quick.json" if args.quick else "ingest.json")
    with tempfile.TemporaryDirectory(prefix="callvault-bench-") as tmp:
        res = run(QUICK if args.quick else FULL, Path(tmp)) | {"quick": args.quick}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(report(res))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
