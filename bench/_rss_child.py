"""Run one `callvault` CLI command in this fresh process, then report its resource use.

    python bench/_rss_child.py REPORT.json -- CLI ARGS...

The report holds this process's own peak RSS (RUSAGE_SELF) and the largest peak among the
subprocesses it waited for (RUSAGE_CHILDREN: ffprobe/ffmpeg), in KiB, plus CPU seconds.
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
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    report.write_text(json.dumps({
        "rc": rc,
        "wall_s": wall,
        "python_peak_rss_kib": me.ru_maxrss,
        "largest_child_peak_rss_kib": kids.ru_maxrss,
        "python_cpu_s": me.ru_utime + me.ru_stime,
        "children_cpu_s": kids.ru_utime + kids.ru_stime,
    }))
    return rc


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[2] != "--":
        sys.exit("usage: _rss_child.py REPORT.json -- CLI ARGS...")
    sys.exit(run(Path(sys.argv[1]), sys.argv[3:]))
