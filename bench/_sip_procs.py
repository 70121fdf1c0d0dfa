"""Processes of bench/sip_capacity.py: `callvault agent` as a subprocess, and /proc sampling.

CPU is utime+stime of /proc/<pid>/stat (every thread of the process; children such as the
hand-off's ffmpeg are in cutime/cstime once reaped, kept apart). RSS is VmRSS.

pjlib does not name its threads, so the agent's threads are told apart by the system call
each one waits in (/proc/<pid>/task/<tid>/syscall, x86-64 numbers):
  sip       epoll_wait(..., timeout=10)   the Python SIP thread in Endpoint.libHandleEvents(10)
  media-rx  epoll_wait(..., timeout=500)  pjmedia's endpoint worker: reads every RTP socket
  clock     clock_nanosleep(REALTIME, 0)  pjmedia's clock (null sound device): the conference
                                          bridge, codecs, RTP send and the WAV recorders
A ThreadWatch notes every stretch >= 200 ms in which one of them was not scheduled at all
(schedstat's timeslice count did not move), with the states and wait channels seen meanwhile.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")
EPOLL_WAIT, CLOCK_NANOSLEEP = 232, 230


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def _stat(path: str) -> list[str]:
    text = _read(path)
    return text[text.rindex(")") + 2 :].split()  # fields from "state" on


def cpu_s(pid: int) -> tuple[float, float]:
    """(own user+sys seconds, reaped children's user+sys seconds) of a process."""
    f = _stat(f"/proc/{pid}/stat")
    return (int(f[11]) + int(f[12])) / TICK, (int(f[13]) + int(f[14])) / TICK


def rss_mib(pid: int) -> float:
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def thread_label(pid: int, tid: int) -> str | None:
    """sip / media-rx / clock (see the module docstring), or None. pjlib 2.17 names its
    threads ("media", "clock"), and its media workers poll with a 10 ms timeout like the SIP
    thread, so the name decides first."""
    try:
        comm = _read(f"/proc/{pid}/task/{tid}/comm").strip()
        call = _read(f"/proc/{pid}/task/{tid}/syscall").split()
    except OSError:
        return None
    if comm in ("media", "clock"):
        return "media-rx" if comm == "media" else "clock"
    if not call or not call[0].isdigit():
        return None
    nr, args = int(call[0]), [int(a, 16) for a in call[1:5]]
    if nr == EPOLL_WAIT and args[3] in (10, 500):
        return "sip" if args[3] == 10 else "media-rx"
    if nr == CLOCK_NANOSLEEP and args[0] == 0 and args[1] == 0 and tid != pid:
        return "clock"
    return None


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds per thread id."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            f = _stat(f"/proc/{pid}/task/{tid}/stat")
        except OSError:
            continue
        out[int(tid)] = (int(f[11]) + int(f[12])) / TICK
    return out


def socket_drops(pid: int) -> dict[str, int]:
    """Datagrams the kernel dropped on each UDP socket of a process (receive buffer full)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    drops = {}
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        f = line.split()
        if f[9] in inodes:
            drops[f[9]] = int(f[12])
    return drops


@dataclass
class Sample:
    t: float
    procs: dict[str, tuple[float, float, float]]  # name -> (cpu s, children cpu s, RSS MiB)
    threads: dict[int, float]  # the agent's threads: tid -> cpu s


@dataclass
class Sampler:
    """Samples the named processes every `every` seconds on a background thread."""

    pids: dict[str, int]
    agent: str = "agent"
    every: float = 0.5
    samples: list[Sample] = field(default_factory=list)
    drops: dict[str, int] = field(default_factory=dict)  # the agent's UDP sockets, by inode
    labels: dict[int, str] = field(default_factory=dict)  # agent tid -> sip/media-rx/clock
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> Sample:
        procs = {}
        for name, pid in self.pids.items():
            try:
                procs[name] = (*cpu_s(pid), rss_mib(pid))
            except (OSError, ValueError):
                continue  # exited
        agent = self.pids[self.agent]
        try:
            threads = thread_cpu(agent)
            for inode, n in socket_drops(agent).items():
                self.drops[inode] = max(n, self.drops.get(inode, 0))
            for tid in threads.keys() - self.labels.keys():
                if label := thread_label(agent, tid):
                    self.labels[tid] = label
        except OSError:
            threads = {}
        s = Sample(time.time(), procs, threads)
        self.samples.append(s)
        return s

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.every):
                self.sample()

        self.sample()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def window(self, t0: float, t1: float) -> tuple[Sample, Sample] | None:
        """The first and last samples inside [t0, t1], if there are two."""
        inside = [s for s in self.samples if t0 <= s.t <= t1]
        return (inside[0], inside[-1]) if len(inside) >= 2 else None


@dataclass
class ThreadWatch:
    """Notes when the agent's sip, media-rx or clock thread is not scheduled for >= min_s."""

    pid: int
    every: float = 0.02
    min_s: float = 0.2
    stalls: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        labels: dict[int, str] = {}
        last: dict[int, tuple[str, float, dict[str, int]]] = {}  # tid -> (slices, since, seen)
        relabel = 0.0
        while not self._stop.wait(self.every):
            now = time.time()
            if now >= relabel:
                relabel = now + 0.5
                try:
                    tids = {int(t) for t in os.listdir(f"/proc/{self.pid}/task")}
                except OSError:
                    return
                labels = {t: lb for t, lb in labels.items() if t in tids}
                for tid in tids - labels.keys():
                    if (lb := thread_label(self.pid, tid)) and lb not in labels.values():
                        labels[tid] = lb
            for tid, label in labels.items():
                try:
                    slices = _read(f"/proc/{self.pid}/task/{tid}/schedstat").split()[2]
                except OSError:
                    continue
                prev = last.get(tid)
                if prev is None or prev[0] != slices:
                    if prev and now - prev[1] >= self.min_s:
                        self.stalls.append(
                            {
                                "thread": label,
                                "tid": tid,
                                "start": prev[1],
                                "length_s": round(now - prev[1], 3),
                                "seen": prev[2],
                            }
                        )
                    last[tid] = (slices, now, {})
                elif now - prev[1] >= 0.06:  # idle for a while: note where it waits
                    try:
                        state = _stat(f"/proc/{self.pid}/task/{tid}/stat")[0]
                        wchan = _read(f"/proc/{self.pid}/task/{tid}/wchan") or "-"
                    except OSError:
                        continue
                    key = f"{state}:{wchan}"
                    prev[2][key] = prev[2].get(key, 0) + 1

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()


def niced(nice: int) -> list[str]:
    return ["nice", "-n", str(nice)] if nice else []


def start_agent(
    callvault: str, config: Path, workdir: Path, log: Path, nice: int = 0
) -> subprocess.Popen[bytes]:
    """`callvault agent` in its own session (at `nice`); returns once its control socket is
    up."""
    token = workdir / "var/run/control.json"
    token.unlink(missing_ok=True)
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            [*niced(nice), callvault, "--config", str(config), "agent"],
            cwd=workdir,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")},
        )
    deadline = time.monotonic() + 60
    while not token.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError(f"agent did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return proc


def start_workers(
    callvault: str, config: Path, workdir: Path, count: int, nice: int = 0
) -> list[subprocess.Popen[bytes]]:
    """`count` times `callvault worker` (compression), as `serve` would start them."""
    procs = []
    for i in range(count):
        with open(workdir / f"worker{i}.log", "ab") as fh:
            procs.append(
                subprocess.Popen(
                    [*niced(nice), callvault, "--config", str(config), "worker"],
                    cwd=workdir,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    env={k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")},
                )
            )
    return procs


def stop(
    proc: subprocess.Popen[Any] | None, sig: int = signal.SIGTERM, timeout: float = 120
) -> int | None:
    """Signal a process we started, wait, and kill it if it hangs (its session too, if any)."""
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)  # the agent: its own session, with ffmpeg
        else:
            proc.kill()
        return proc.wait()


def drain(proc: subprocess.Popen[str], sink: list[str]) -> threading.Thread:
    """Read a child's stderr on a thread so that a full pipe can never stall it."""

    def loop() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if len(sink) < 2000:
                sink.append(line.rstrip())

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t
