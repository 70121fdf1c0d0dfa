"""Runs the components of a long-lived process (`serve`, `agent`) until a signal stops it.

Components start in order and stop in reverse; one that dies (its `failed` is set) ends the
run, and SIGTERM/SIGINT end it after the current step.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from typing import Protocol

from retention_jobs.errors import RetentionError
from retention_jobs.stopping import StopRequest, stop_on_signals

log = logging.getLogger("callvault.retention")


class Component(Protocol):
    """Something the supervisor runs until stopped: the scheduled jobs, the SIP agent
    (callvault.agent_runner.AgentComponent). A component may expose `failed` (an exception
    once it has died), which ends the run."""

    def start(self) -> list[str]: ...

    def stop(self) -> None: ...


class ServeError(RetentionError):
    """`serve` ended because one of its components died."""


def supervise(
    components: Sequence[Component],
    stop: StopRequest,
    *,
    what: str = "serving",
    logger: logging.Logger = log,
    poll_s: float = 0.2,
) -> BaseException | None:
    """Start the components, wait for a stop or a failure, stop them; returns the failure.

    A component whose start() raised is stopped too (it may have started threads)."""
    started: list[Component] = []
    failed: BaseException | None = None
    try:
        with stop_on_signals(stop):
            for c in components:
                started.append(c)
                for line in c.start():
                    logger.info(line)
            logger.info("%s (pid %d); SIGTERM or Ctrl-C stops", what, os.getpid())
            while not stop.is_set() and failed is None:
                time.sleep(poll_s)
                failed = next((e for c in started if (e := getattr(c, "failed", None))), None)
            logger.info("stopping: running jobs finish their current step")
    finally:
        for c in reversed(started):
            c.stop()
    return failed
