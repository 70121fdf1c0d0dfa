#!/usr/bin/env python3
"""Commit fast, compress later: CPU per recorded hour of the commit and of the compression,
stored size and STOI of the compressed version, and the memory of a 2-hour call.

    .venv/bin/python bench/compress.py [--quick]

1. Commit (what the SIP node does at hang-up): the two legs merged by streaming, spooled
   (moved), probed from the WAV header, encrypted, stored, catalogued; in-process CPU
   (user+system, this process and its children), median of the repetitions.
2. Compress (what `callvault worker` does): one job, decrypt → ffmpeg (libopus) → encrypt →
   upload → commit → old object deleted; CPU including ffmpeg's.
3. Size against 8 kHz stereo 16-bit WAV, and STOI per channel of the compressed recording
   exported as WAV, against the original.
4. A 2-hour call committed, then compressed, each in a fresh process: peak RSS (VmHWM; ffmpeg
   through /usr/bin/time) and CPU.

Writes bench/out/compress.json. Only figures from one run are comparable.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
# bench/ last on the path: its portal.py must not shadow the portal package.
sys.path[:] = [str(BENCH.parent)] + [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.append(str(BENCH))

from _audio import loop_to, make_call, read_wav, stoi_per_channel  # noqa: E402
from _report import MiB, machine, table  # noqa: E402
from ingest import TIME, WAV_BYTES_PER_HOUR, cpu, timed_tools  # noqa: E402

from callvault.settings import load_settings  # noqa: E402
from callvault.wiring import Services  # noqa: E402
from storage.ingest import IngestRequest  # noqa: E402
from storage.merge import merge_legs  # noqa: E402

# The commit step in a fresh process: merge, spool (moved, as the SIP hand-off does), commit.
COMMIT_CHILD = """
import json, resource, sys
from pathlib import Path
from callvault.settings import load_settings
from callvault.wiring import Services
from storage.ingest import IngestRequest
from storage.merge import merge_legs
config, left, right, stereo, report = (Path(a) for a in sys.argv[1:6])
svc = Services.build(load_settings(config, environ={}))
pipe = svc.pipeline()
t0 = resource.getrusage(resource.RUSAGE_SELF)
merge_legs(left, right, stereo)
job = pipe.submit(stereo, IngestRequest("bench-2h"), actor="bench", move=True)
state = pipe.process(job.id).state
t1 = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
status = Path("/proc/self/status").read_text().splitlines()
hwm = next(int(x.split()[1]) for x in status if x.startswith("VmHWM:"))
cpu = t1.ru_utime + t1.ru_stime - t0.ru_utime - t0.ru_stime
report.write_text(json.dumps({"state": state, "id": job.id, "python_peak_rss_kib": hwm,
                              "cpu_s": cpu + kids.ru_utime + kids.ru_stime}))
"""


def split_legs(stereo: Path, left: Path, right: Path) -> None:
    """The call's two channels as the recorder writes them: one mono WAV per leg."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(stereo), "-filter_complex",
         "[0:a]pan=mono|c0=c0[l];[0:a]pan=mono|c0=c1[r]", "-map", "[l]", "-c:a", "pcm_s16le",
         str(left), "-map", "[r]", "-c:a", "pcm_s16le", str(right)],
        check=True,
    )  # fmt: skip


def vault(root: Path, extra: str = "") -> Services:
    root.mkdir(parents=True)
    config = root / "callvault.toml"
    config.write_text(f"[worker]\nold_object_grace_s = 0\n{extra}")
    svc = Services.build(load_settings(config, environ={}))
    svc.init()
    return svc


def commit_once(svc: Services, left: Path, right: Path, tmp: Path, n: int) -> dict[str, Any]:
    legs = [shutil.copy(p, tmp / f"{n}-{p.name}") for p in (left, right)]
    stereo = tmp / f"{n}-stereo.wav"
    pipe = svc.pipeline()
    (s0, c0), w0 = cpu(), time.perf_counter()
    merge_legs(Path(legs[0]), Path(legs[1]), stereo)
    (s1, c1) = cpu()
    job = pipe.submit(stereo, IngestRequest(f"bench-{n}"), actor="bench", move=True)
    result = pipe.process(job.id)
    (s2, c2), w2 = cpu(), time.perf_counter()
    if result.state != "stored":
        raise RuntimeError(f"commit {n}: {result.state} {result.message}")
    for p in legs:
        Path(p).unlink()
    return {
        "id": job.id,
        "merge_cpu_s": (s1 - s0) + (c1 - c0),
        "commit_cpu_s": (s2 - s1) + (c2 - c1),
        "cpu_s": (s2 - s0) + (c2 - c0),
        "wall_s": w2 - w0,
    }


def compress_once(svc: Services) -> dict[str, Any]:
    (s0, c0), w0 = cpu(), time.perf_counter()
    r = svc.compressor().run_once()
    (s1, c1), w1 = cpu(), time.perf_counter()
    if r is None or r.state != "compressed":
        raise RuntimeError(f"compression: {r}")
    return {"id": r.recording_id, "python_cpu_s": s1 - s0, "ffmpeg_cpu_s": c1 - c0,
            "cpu_s": (s1 - s0) + (c1 - c0), "wall_s": w1 - w0}  # fmt: skip


def quality(svc: Services, rid: str, original: Path, out: Path) -> dict[str, Any]:
    view = svc.recordings().show(rid)
    svc.recordings().export(rid, out, reason="benchmark: STOI", actor="bench", fmt="wav")
    scores, lag, extra = stoi_per_channel(read_wav(original), read_wav(out))
    per_hour = view["stored_bytes"] * 3600 / view["duration_s"]
    return {"format": view["format"], "stored_bytes": view["stored_bytes"],
            "kbit_s": per_hour * 8 / 3600 / 1000, "ratio_vs_wav": WAV_BYTES_PER_HOUR / per_hour,
            "stoi": scores, "lag_samples": lag, "length_diff_samples": extra}  # fmt: skip


def long_call(tmp: Path, call: Path, seconds: float) -> dict[str, Any]:
    """Commit then compress a long call, each in a fresh process."""
    extra, log = timed_tools(tmp) if Path(TIME).is_file() else ("", tmp / "absent.log")
    svc = vault(tmp / "vault-long", f"[audio]\n{extra}")
    config = svc.settings.config_file
    svc.close()
    src = loop_to(call, tmp / "long.wav", seconds)
    left, right = tmp / "long-caller.wav", tmp / "long-staff.wav"
    split_legs(src, left, right)
    report_file = tmp / "commit.json"
    subprocess.run([sys.executable, "-c", COMMIT_CHILD, str(config), str(left), str(right),
                    str(tmp / "long-stereo.wav"), str(report_file)], check=True)  # fmt: skip
    commit = json.loads(report_file.read_text())
    log.write_text("")
    subprocess.run([sys.executable, str(BENCH / "_rss_child.py"), str(report_file), "--",
                    "--config", str(config), "worker", "--once"], check=True,
                   capture_output=True)  # fmt: skip
    comp = json.loads(report_file.read_text())
    peaks = [int(ln.split()[0]) for ln in log.read_text().splitlines() if ln[:1].isdigit()]
    svc = Services.build(load_settings(config, environ={}))
    q = quality(svc, commit["id"], src, tmp / "long-export.wav")
    svc.close()
    return {"seconds": seconds, "commit": commit,
            "compress": comp | {"ffmpeg_peak_rss_kib": max(peaks, default=None)},
            "quality": {k: v for k, v in q.items() if k != "stoi"}}  # fmt: skip


def run(call_s: float, reps: int, long_s: float, tmp: Path) -> dict[str, Any]:
    info, t0 = machine(), time.perf_counter()
    call = make_call(tmp / "call.wav", call_s)
    left, right = tmp / "caller.wav", tmp / "staff.wav"
    split_legs(call, left, right)
    svc = vault(tmp / "vault")
    commits = [commit_once(svc, left, right, tmp, n) for n in range(reps + 1)][1:]  # 1 warm-up
    compresses = [compress_once(svc) for _ in range(reps + 1)][1:]
    q = quality(svc, compresses[0]["id"], call, tmp / "export.wav")
    svc.close()
    med = statistics.median
    per_hour = 3600 / call_s
    return {
        "machine": info,
        "call_s": call_s,
        "reps": reps,
        "commit_cpu_s_per_rec_hour": med(c["cpu_s"] for c in commits) * per_hour,
        "merge_cpu_s_per_rec_hour": med(c["merge_cpu_s"] for c in commits) * per_hour,
        "compress_cpu_s_per_rec_hour": med(c["cpu_s"] for c in compresses) * per_hour,
        "compress_ffmpeg_cpu_s_per_rec_hour": med(c["ffmpeg_cpu_s"] for c in compresses) * per_hour,
        "quality": q,
        "long": long_call(tmp, call, long_s),
        "samples": {"commit": commits, "compress": compresses},
        "elapsed_s": time.perf_counter() - t0,
    }


def show(res: dict[str, Any]) -> str:
    q, lg = res["quality"], res["long"]
    rows = [
        ["stage", "CPU s per recorded hour"],
        ["commit (merge + spool + encrypt + store + catalogue)",
         f"{res['commit_cpu_s_per_rec_hour']:.2f} (merge {res['merge_cpu_s_per_rec_hour']:.2f})"],
        ["compress (decrypt + ffmpeg + encrypt + store + commit + delete)",
         f"{res['compress_cpu_s_per_rec_hour']:.1f} "
         f"(ffmpeg {res['compress_ffmpeg_cpu_s_per_rec_hour']:.1f})"],
    ]  # fmt: skip
    sizes = [
        ["call", "format", "kbit/s", "vs WAV", "STOI L", "STOI R"],
        [f"{res['call_s']:g} s", q["format"], f"{q['kbit_s']:.1f}", f"{q['ratio_vs_wav']:.1f}x",
         f"{q['stoi'][0]:.4f}", f"{q['stoi'][1]:.4f}"],
    ]  # fmt: skip
    c, k = lg["commit"], lg["compress"]
    ff = k["ffmpeg_peak_rss_kib"]
    mem = [
        [f"{lg['seconds'] / 60:g}-min call, fresh process", "peak RSS MiB", "CPU s"],
        ["commit", f"{c['python_peak_rss_kib'] / MiB:.1f}", f"{c['cpu_s']:.2f}"],
        ["worker --once (compress)", f"{k['python_peak_rss_kib'] / MiB:.1f}"
         + (f" (ffmpeg {ff / MiB:.1f})" if ff else ""),
         f"{k['python_cpu_s'] + k['children_cpu_s']:.1f}"],
    ]  # fmt: skip
    return "\n\n".join(table(t) for t in (rows, sizes, mem)) + (
        f"\n\n{lg['seconds'] / 60:g}-min call compressed: {lg['quality']['kbit_s']:.1f} kbit/s, "
        f"{lg['quality']['ratio_vs_wav']:.1f}x smaller than WAV"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="60 s call, 2 reps, 10-min long call")
    args = ap.parse_args()
    out = BENCH / "out" / ("compress.quick.json" if args.quick else "compress.json")
    with tempfile.TemporaryDirectory(prefix="callvault-bench-") as tmp:
        res = run(*((60, 2, 600) if args.quick else (300, 5, 7200)), Path(tmp))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(show(res))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
