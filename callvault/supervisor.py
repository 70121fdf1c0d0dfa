"""Runs the components of a long-lived process (`serve`, `agent`) until a signal stops it.

Components start in order and stop in reverse; one that dies (its `failed` is set) ends the
run, and SIGTERM/SIGINT end it after the current step.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
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


class WorkerPool:
    """`processes` times `callvault worker` subprocesses (a Component of `serve`): each one that
    exits is started again (after a pause that grows while they keep dying young), and all
    get SIGTERM at shutdown, then SIGKILL if they have not finished their step in time."""

    def __init__(
        self,
        processes: int,
        *,
        config: Path | None,
        cwd: Path,
        stop_timeout_s: float = 60,
        logger: logging.Logger = log,
        metrics_port: int = 0,
    ) -> None:
        self.processes = processes
        self.cwd = cwd
        self.command = [sys.executable, "-m", "callvault.cli"]
        self.command += ["--config", str(config)] if config else []
        self.command += ["worker"]
        self.stop_timeout_s = stop_timeout_s
        self.metrics_port = metrics_port  # worker i serves its metrics on metrics_port + i
        self.log = logger
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * processes
        self.restarts = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def _spawn(self, i: int) -> None:
        port = ["--metrics-port", str(self.metrics_port + i)] if self.metrics_port else []
        self.procs[i] = subprocess.Popen(
            self.command + port, cwd=self.cwd, stdin=subprocess.DEVNULL
        )

    def start(self) -> list[str]:
        for i in range(self.processes):
            self._spawn(i)
        self._thread = threading.Thread(target=self._watch, name="worker-pool", daemon=True)
        self._thread.start()
        pids = ", ".join(str(p.pid) for p in self.procs if p)
        return [f"{self.processes} compression worker(s) started (pid {pids})"] if pids else []

    def _watch(self) -> None:
        pause = [1.0] * self.processes
        started = [time.monotonic()] * self.processes
        while not self._stopping.wait(0.5):
            for i, p in enumerate(self.procs):
                if p is None or p.poll() is None:
                    continue
                young = time.monotonic() - started[i] < 30
                pause[i] = min(pause[i] * 2, 60.0) if young else 1.0
                self.log.warning(
                    "compression worker pid %d exited with %s; restarting in %.0f s",
                    p.pid,
                    p.returncode,
                    pause[i],
                )
                if self._stopping.wait(pause[i]):
                    return
                self._spawn(i)
                self.restarts += 1
                started[i] = time.monotonic()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        live = [p for p in self.procs if p is not None and p.poll() is None]
        for p in live:
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for p in live:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log.warning("compression worker pid %d did not stop: killed", p.pid)
                p.kill()
                p.wait()
