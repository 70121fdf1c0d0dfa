"""One purge run in its own process, for the crash and concurrency tests.

    python -m tests.retention_jobs.purge_worker CONFIG NOW [--kill-at STEP --kill-batch N]
                                                [--pause S] [--go FILE]

--kill-at SIGKILLs the process at a purge step (claimed | objects-destroyed | finalised) of
the N-th batch; --pause sleeps after each claim (to make concurrent runs overlap); --go waits
for FILE to exist before starting (a start barrier). Prints the run's report as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

from callvault.settings import load_settings
from callvault.wiring import Services


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("config", type=Path)
    p.add_argument("now", type=datetime.fromisoformat)
    p.add_argument("--kill-at")
    p.add_argument("--kill-batch", type=int, default=1)
    p.add_argument("--pause", type=float, default=0.0)
    p.add_argument("--go", type=Path)
    args = p.parse_args()
    batches = {"n": 0}

    def on_step(step: str, ids: list[str]) -> None:
        if step == "claimed":
            batches["n"] += 1
            time.sleep(args.pause)
        if step == args.kill_at and batches["n"] == args.kill_batch:
            os.kill(os.getpid(), signal.SIGKILL)

    svc = Services.build(load_settings(args.config, environ={}))
    try:
        purger = svc.purger(on_step=on_step)
        print("ready", file=sys.stderr, flush=True)
        while args.go and not args.go.exists():
            time.sleep(0.01)
        report = purger.run(now=args.now, actor="worker")
    finally:
        svc.close()
    json.dump(report.as_dict(), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
