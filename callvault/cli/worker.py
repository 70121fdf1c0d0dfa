"""`callvault worker [--once]`: compress committed recordings to the stored format.

Any number of workers, on this machine or others sharing the catalogue and the object store,
take jobs from the catalogue's queue (storage/compression.py). `serve` starts `[worker]
processes` of them and restarts any that exits. In `hpke` mode a worker needs the private
key-encryption key, so it runs where that key is (never on a recorder).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import asdict
from typing import TYPE_CHECKING

from callvault.cli.output import emit
from callvault.cli.registry import Context, Registrar

if TYPE_CHECKING:
    from callvault.wiring import Services
    from retention_jobs.stopping import StopRequest
    from storage.compression import Compressor

log = logging.getLogger("callvault.worker")


def cmd_worker(args: argparse.Namespace, ctx: Context) -> int:
    from callvault.observability.node import Observability
    from retention_jobs.stopping import StopRequest, stop_on_signals
    from storage import compression_queue

    svc = ctx.services()
    compressor = svc.compressor()
    compressor.check_keys()  # a recorder in hpke mode: one clear line, exit 1
    stop = StopRequest()
    results = []
    with stop_on_signals(stop):
        if args.once:
            results = compressor.drain(stop.is_set)
        else:
            watch = Observability(
                svc, role="worker", port=args.metrics_port or 0, verbose=args.verbose
            )
            for line in watch.start():
                log.info("%s", line)
            try:
                _loop(svc, compressor, stop)
            finally:
                watch.stop()
            log.info("worker %s stopped", compressor.worker)
            return 0
    with svc.catalogue.session() as s:
        backlog = compression_queue.backlog(s)
    failed = [r for r in results if r.state in ("failed", "retry")]
    doc = {"worker": compressor.worker, "jobs": [asdict(r) for r in results], "queue": backlog}

    def human() -> None:
        for r in results:
            out = sys.stderr if r in failed else sys.stdout
            print(f"{r.recording_id}  {r.state}  {r.message}".rstrip(), file=out)
        waiting = ", ".join(f"{n} {state}" for state, n in sorted(backlog.items())) or "empty"
        print(f"compressed {len(results) - len(failed)} job(s); queue: {waiting}", file=sys.stderr)

    emit(args, doc, human)
    return 1 if failed else 0


def _loop(svc: Services, compressor: Compressor, stop: StopRequest) -> None:
    from storage import metrics

    log.info("worker %s: compressing to %s", compressor.worker, svc.settings.audio.format)
    poll = svc.settings.worker.poll_s
    while not stop.is_set():
        r = compressor.run_once()
        if r is not None:
            metrics.COMPRESSIONS.labels(result=r.state).inc()
            log.info("%s %s %s", r.recording_id, r.state, r.message)
            continue
        for _ in range(int(poll / 0.2)):  # an idle worker looks again every poll_s
            if stop.is_set():
                break
            time.sleep(0.2)


def register(cli: Registrar) -> None:
    w = cli.command(
        "worker",
        cmd_worker,
        "compress committed recordings to the stored format (until SIGTERM, or --once)",
    )
    w.add_argument(
        "--once",
        action="store_true",
        help="do every job that is due now, then exit (1 if any failed or must be retried)",
    )
    w.add_argument(
        "--metrics-port",
        type=int,
        help="serve /metrics, /healthz and /readyz on this port (on metrics.host)",
    )
