#!/usr/bin/env python3
"""Access-pack benchmark: peak RSS and wall time of `callvault requests pack` against call length.

    .venv/bin/python bench/requests_pack.py [--quick]

For each length (1, 10 and 60 minutes; --quick: 1 and 10) one two-party call (bench/_audio.py
speech, looped with ffmpeg) is ingested for one caller on the embedded default (SQLite + local
directory, in a temp dir), with the stored format as configured ([audio] compress = later:
WAV; `--opus`: compressed at ingest). An access request is opened and verified, and the pack is
made by a fresh `callvault requests pack` process (bench/_rss_child.py: VmHWM of that process;
ffmpeg children under /usr/bin/time). Flat memory means the peak does not grow with length.
Prints a table and writes bench/out/requests_pack.json.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _audio import loop_to, make_call  # noqa: E402

PY = sys.executable
CALLVAULT = str(Path(PY).parent / "callvault")


def cli(cwd: Path, *args: str) -> str:
    r = subprocess.run([CALLVAULT, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise SystemExit(f"callvault {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def run(minutes: float, opus: bool, work: Path, source: Path) -> dict[str, Any]:
    d = work / f"{minutes:g}min-{'opus' if opus else 'wav'}"
    d.mkdir()
    if opus:
        (d / "callvault.toml").write_text('[audio]\ncompress = "at-ingest"\n')
    cli(d, "init")
    call = loop_to(source, d / "call.wav", minutes * 60)
    cli(d, "ingest", str(call), "--call-id", "c1", "--caller", "01277 312500")
    call.unlink()
    opened = cli(d, "requests", "open", "--kind", "access", "--caller", "+441277312500", "--json")
    req = json.loads(opened)["id"]
    cli(d, "requests", "verify", req, "--how", "bench")
    report = d / "rss.json"
    timed = subprocess.run(
        ["/usr/bin/time", "-v", PY, str(BENCH / "_rss_child.py"), str(report), "--",
         "requests", "pack", req, "--out", str(d / "pack.zip")],
        cwd=d, capture_output=True, text=True, check=False,
    )  # fmt: skip
    me = json.loads(report.read_text())
    if me["rc"] != 0:
        raise SystemExit(f"pack failed: {timed.stderr[-500:]}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", timed.stderr)
    return {
        "minutes": minutes,
        "stored": "opus" if opus else "wav",
        "pack_bytes": (d / "pack.zip").stat().st_size,
        "wall_s": round(me["wall_s"], 2),
        "python_peak_rss_mib": round(me["python_peak_rss_kib"] / 1024, 1),
        "largest_process_rss_mib": round(int(m[1]) / 1024, 1) if m else None,
        "cpu_s": round(me["python_cpu_s"] + me["children_cpu_s"], 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 and 10 minutes only")
    p.add_argument("--opus", action="store_true", help="also with Ogg/Opus stored audio")
    a = p.parse_args()
    lengths = (1.0, 10.0) if a.quick else (1.0, 10.0, 60.0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-pack-") as tmp:
        work = Path(tmp)
        source = make_call(work / "source.wav", 60)
        for opus in (False, True) if a.opus else (False,):
            for minutes in lengths:
                rows.append(run(minutes, opus, work, source))
                print(json.dumps(rows[-1]), flush=True)
    out = BENCH / "out"
    out.mkdir(exist_ok=True)
    (out / "requests_pack.json").write_text(json.dumps(rows, indent=2) + "\n")
    heads = ("min", "stored", "pack MiB", "wall s", "py RSS MiB", "max RSS MiB")
    print(" ".join(f"{h:>11}" for h in heads))
    for r in rows:
        cells = (r["minutes"], r["stored"], round(r["pack_bytes"] / 2**20, 1), r["wall_s"],
                 r["python_peak_rss_mib"], r["largest_process_rss_mib"])  # fmt: skip
        print(" ".join(f"{c!s:>11}" for c in cells))


if __name__ == "__main__":
    main()
