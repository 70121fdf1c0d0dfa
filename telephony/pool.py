"""The worker pool that hands finished calls over (merge, spool, ingest), off the SIP thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from telephony.calldir import CallDir
from telephony.handoff import Handoff

log = logging.getLogger(__name__)


class HandoffPool:
    """Threads that run Handoff.finish on each finished call's directory, then release it."""

    def __init__(self, handoff: Handoff, workers: int, register_thread: Callable[[], None]) -> None:
        self.handoff = handoff
        # Registered with pjlib anyway, in case a stray pjsua2 object is freed there.
        self._pool = ThreadPoolExecutor(
            workers, thread_name_prefix="handoff", initializer=register_thread
        )
        self._futures: list[Future[Any]] = []
        self._lock = threading.Lock()

    def submit(self, calldir: CallDir) -> None:
        with self._lock:
            self._futures = [f for f in self._futures if not f.done()]
            self._futures.append(self._pool.submit(self._work, calldir))

    def _work(self, calldir: CallDir) -> None:
        try:
            result = self.handoff.finish(calldir.path)
            log.info(
                "call %s handed over: %s%s",
                calldir.flow_id,
                result.kind,
                f" ({result.ingest.state})" if result.ingest else "",
            )
        except Exception:
            # The call directory stays in the spool; `ingest --resume` (or the next start-up)
            # stores it. Nothing is lost, so the agent keeps serving.
            log.exception("call %s: hand-over failed; kept in %s", calldir.flow_id, calldir.path)
        finally:
            calldir.release()

    def wait(self) -> None:
        with self._lock:
            futures = list(self._futures)
        for fut in futures:
            fut.result()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
