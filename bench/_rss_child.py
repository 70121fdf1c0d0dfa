"""Run one `callvault` CLI command in this fresh process, then report its resource use.

    python bench/_rss_child.py REPORT.json -- CLI ARGS...

The report holds this process's own peak RSS in KiB and CPU seconds (its own and its waited-for
children's). The peak is VmHWM from /proc/self/status, not ru_maxrss: on Linux, exec() carries
the parent's high-water mark into the child's ru_maxrss, so a process started by a 250 MiB
benchmark would report at least 250 MiB. (The same is why ffmpeg children are measured by
wrapping them in /usr/bin/time rather than with RUSAGE_CHILDREN; see ingest.py.)
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from callvault.cli import main


def run(report: Path, argv: list[str]) -> int:
    """Run the CLI with argv and write the resource report; returns the CLI's exit code."""
    t0 = time.perf_counter()
    rc = main(argv)
    wall = time.perf_counter() - t0
    status = Path("/proc/self/status").read_text().splitlines()
    hwm = next(int(ln.split()[1]) for ln in status if ln.startswith("VmHWM:"))
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    report.write_text(
        json.dumps(
            {
                "rc": rc,
                "wall_s": wall,
                "python_peak_rss_kib": hwm,
                "python_cpu_s": me.ru_utime + me.ru_stime,
                "children_cpu_s": kids.ru_utime + kids.ru_stime,
            }
        )
    )
    return rc


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[2] != "--":
        sys.exit("usage: _rss_child.py REPORT.json -- CLI ARGS...")
    sys.exit(run(Path(sys.argv[1]), sys.argv[3:]))
