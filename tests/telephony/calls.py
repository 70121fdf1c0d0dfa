"""Helpers for the call tests: what the agent stored, exported audio and its checks."""

from __future__ import annotations

import json
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from tests.telephony.conftest import RunningAgent

RATE = 8000


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return data.reshape(-1, w.getnchannels()).astype(np.float64)


def envelope(x: np.ndarray) -> np.ndarray:
    n = RATE // 50  # 20 ms
    frames = x[: len(x) // n * n].reshape(-1, n)
    return np.sqrt((frames**2).mean(axis=1))


def _best_lag_corr(rec: np.ndarray, src: np.ndarray) -> float:
    rec = (rec - rec.mean()) / (rec.std() or 1)
    best = -1.0
    for lag in range(len(src) - len(rec)):
        seg = src[lag : lag + len(rec)]
        if seg.std() > 0:
            best = max(best, float(np.mean(rec * (seg - seg.mean()) / seg.std())))
    return best


WINDOW = 125  # envelope frames (20 ms): 2.5 s


def best_corr(recorded: np.ndarray, source: np.ndarray) -> float:
    """How well the recorded envelope follows the (looped) source: the median, over 2.5 s
    windows, of each window's correlation at its best lag. Each window finds its own lag, so a
    dropped or late stretch of RTP on a loaded machine (the whole signal then no longer lines
    up at one lag) costs one window, not the whole check; a wrong or silent channel still
    scores low in every window."""
    rec, src = envelope(recorded), envelope(source)
    src = np.tile(src, len(rec) // len(src) + 2)
    if len(rec) < 2 * WINDOW:
        return _best_lag_corr(rec, src)
    windows = [rec[i : i + WINDOW] for i in range(0, len(rec) - WINDOW + 1, WINDOW)]
    return float(np.median([_best_lag_corr(w, src) for w in windows]))


def recordings(agent: RunningAgent) -> list[dict[str, Any]]:
    rows = json.loads(agent.cli("recordings", "list", "--json").stdout)
    return [json.loads(agent.cli("recordings", "show", r["id"], "--json").stdout) for r in rows]


def consent_records(agent: RunningAgent) -> list[dict[str, Any]]:
    svc = agent.services()
    try:
        with svc.catalogue.engine.connect() as conn:
            docs = conn.exec_driver_sql("SELECT document FROM consent_records ORDER BY id")
            return [json.loads(d) for (d,) in docs]
    finally:
        svc.close()


def export(agent: RunningAgent, rid: str) -> np.ndarray:
    out = agent.workdir / f"{rid}.wav"
    agent.cli("recordings", "export", rid, "--out", str(out), "--reason", "test", "--format", "wav")
    return read_wav(out)


def assert_nothing_stored(agent: RunningAgent) -> None:
    assert recordings(agent) == []
    spool = agent.workdir / "var/spool"
    assert not any((spool / "calls").iterdir()) and not any((spool / "jobs").iterdir())
    assert not any((agent.workdir / "var/objects").rglob("*"))


def wait_for_live_calls(agent: RunningAgent, n: int, timeout: float = 60) -> list[Any]:
    # 60 s: a first INVITE lost while the restarted agent binds is retransmitted by sipp
    # (RFC 3261 timer A doubles from 0.5 s), so on a loaded machine the call may come late.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        calls: list[Any] = json.loads(agent.cli("calls", "list", "--json").stdout)
        if len(calls) >= n:
            return calls
        time.sleep(0.2)
    raise AssertionError(f"{n} live call(s) expected:\n{agent.log.read_text()[-2000:]}")
