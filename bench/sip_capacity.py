#!/usr/bin/env python3
"""SIP capacity: concurrent bridged, dual-channel recorded calls the agent sustains here.

    .venv/bin/python bench/sip_capacity.py [--calls 50,100,200,300,400,500] [--repeat 2]
    .venv/bin/python bench/sip_capacity.py --quick          # 10 calls x 10 s, to show it works
    .venv/bin/python bench/sip_capacity.py --steady --calls 3000 --rate 4.2   # ~500 at once

--workers K (default 1) runs K `callvault worker` processes beside the agent, as `serve` does,
so recordings are compressed while calls go on. --steady makes arrivals and hang-ups random:
each call's INVITE waits uniform(0, --jitter) s after sipp's constant-rate schedule and it is
bridged uniform(--hold-min, --hold-max) s; the figures are then taken over the steady window,
from the first arrival + --hold-max to the last arrival, and --gap-sample calls are scanned
for gaps (every call's duration is checked).

For each N, a fresh embedded-default callvault (`callvault init`, then `callvault agent` as a
subprocess) takes N calls from one sipp UAC (placed at --rate per second) and bridges each to
one sipp UAS, the queue. Both sides stream continuous espeak-ng speech (rtp_stream) for the
whole call, which is bridged and recorded for --hold seconds. Afterwards every recording is
checked (bench/_sip_check.py: stored, duration, gaps in the exported audio), and the BYE ->
committed time is taken from the catalogue (ingested_at - consent ended_at). /proc gives the
agent's CPU and RSS over the window in which (nearly) all N calls were bridged, per thread,
and the CPU of both sipp processes, which share the same two cores (bench/_sip_procs.py).

An N passes when every run of it stores every call completely; the capacity is the largest N
that passed with every smaller N. Writes bench/out/sip_capacity[.quick].json, prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

from _report import machine  # noqa: E402
from _sip_audio import CALLER_TEXT, STAFF_TEXT, make_notice, make_speech  # noqa: E402
from _sip_check import check_catalogue, sipp_stats, sipp_timeline, spread  # noqa: E402
from _sip_procs import Sampler, ThreadWatch, drain, start_agent, start_workers, stop  # noqa: E402
from _sip_report import capacity, cpu_figures, summary  # noqa: E402

from tests.telephony.conftest import PT_PROBE  # noqa: E402
from tests.telephony.sipp import (  # noqa: E402
    CallerScenario,
    QueueScenario,
    Step,
    free_port,
    start_sipp,
)

CALLVAULT = str(Path(sys.executable).parent / "callvault")
# The agent's own stamp: the queue leg's 180 (callback time) minus the end of the notice.
RINGING = re.compile(r"queue ringing ([+-]\d+\.\d+) s after the notice ended")
AGENT_RTP, UAC_RTP, UAS_RTP = 20000, 26000, 29000  # below the ephemeral range (32768+)
TOML = """
[sip]
port = {sip}
transports = ["udp"]
rtp_port = {rtp}
max_calls = {max_calls}
queue_uri = "sip:queue@127.0.0.1:{queue}"
control_port = {control}
handoff_workers = {handoff}
# one sipp is one source address: the flood guard's default (20, then 2/s) would refuse it
invite_rate_per_min = 60000
invite_burst = 10000

[worker]
poll_s = 1

[consent]
objection_grace_s = {grace}

[[consent.notices]]
id = "bench-notice"
version = "1"
language = "en-GB"
file = "{notice}"
dialled = "*"
service = "bench"
"""


def wait_idle(workdir: Path, timeout: float) -> float:
    """Until the spool holds no live call and no ingest job; returns when (epoch s)."""
    deadline = time.monotonic() + timeout
    spool = workdir / "var/spool"
    while time.monotonic() < deadline:
        if not any(any(d.iterdir()) for d in (spool / "calls", spool / "jobs") if d.exists()):
            return time.time()
        time.sleep(0.5)
    raise TimeoutError(f"the agent's spool was not empty {timeout:.0f} s after the last BYE")


def renice(proc: subprocess.Popen[str], nice: int) -> None:
    """sipp's main thread, before it starts its RTP threads (they inherit it)."""
    if nice:
        os.setpriority(os.PRIO_PROCESS, proc.pid, nice)


def raise_nofile() -> None:
    """Children inherit it: sipp and the agent each hold several descriptors per call."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


def run_step(
    n: int, a: argparse.Namespace, voices: dict[str, Path], te_pt: int, wd: Path
) -> dict[str, Any]:
    """N calls through a fresh agent; measures and checks everything for this N."""
    wd.mkdir(parents=True)
    sip, queue, control = free_port(), free_port(), free_port()
    cfg = wd / "callvault.toml"
    cfg.write_text(
        TOML.format(
            sip=sip,
            rtp=AGENT_RTP,
            max_calls=a.max_calls or min(1000, n + 20),
            queue=queue,
            control=control,
            handoff=a.handoff_workers,
            grace=a.grace,
            notice=voices["notice"],
        )
    )
    subprocess.run(
        [CALLVAULT, "--config", str(cfg), "init"], cwd=wd, check=True, capture_output=True
    )
    # answer -> BYE at the caller: the queue is dialled as the notice ends (not after the grace)
    pre_ms = int((a.notice + a.ring_ms / 1000 + 0.3) * 1000)
    hold_ms = pre_ms + int(a.hold * 1000)
    caller_xml = CallerScenario(voices["caller"], [Step(hold_ms, "bye")]).xml()
    if a.steady:
        caller_xml = steady_xml(caller_xml, hold_ms, pre_ms, a)
        hold_ms = pre_ms + int((a.hold_max + a.jitter) * 1000)
    limit = int(n / a.rate + hold_ms / 1000 + 90)
    common = ("-rtp_threadtasks", str(a.rtp_threadtasks), "-trace_stat", "-fd", "1")
    errors: dict[str, list[str]] = {"uac": [], "uas": []}
    rcs: dict[str, int | None] = {}
    agent = uac = uas = watch = None
    workers: list[subprocess.Popen[bytes]] = []
    try:
        agent = start_agent(CALLVAULT, cfg, wd, wd / "agent.log", a.agent_nice)
        workers = start_workers(CALLVAULT, cfg, wd, a.workers, a.worker_nice)
        time.sleep(2)
        idle = Sampler({"agent": agent.pid})
        idle.start()
        time.sleep(3)
        idle.stop()
        uas = start_sipp(
            QueueScenario(voices["staff"], te_pt=te_pt, ring_ms=a.ring_ms).xml(),
            wd,
            "queue",
            port=queue,
            calls=n,
            timeout_s=limit,
            extra=(*common, "-stf", str(wd / "uas.csv"), "-mp", str(UAS_RTP)),
        )
        renice(uas, a.agent_nice)
        drain(uas, errors["uas"])
        time.sleep(0.5)
        uac = start_sipp(
            caller_xml,
            wd,
            "caller",
            target=f"127.0.0.1:{sip}",
            calls=n,
            rate=a.rate,
            timeout_s=limit,
            extra=(
                *common,
                "-stf",
                str(wd / "uac.csv"),
                "-mp",
                str(UAC_RTP),
                "-p",
                str(free_port()),
                "-trace_msg",
                "-message_file",
                str(wd / "uac.msg.log"),
            ),
        )
        renice(uac, a.agent_nice)
        drain(uac, errors["uac"])
        pids = {"agent": agent.pid, "uac": uac.pid, "uas": uas.pid}
        pids.update({f"worker{i}": w.pid for i, w in enumerate(workers)})
        sampler = Sampler(pids)
        sampler.start()
        watch = ThreadWatch(agent.pid)
        watch.start()
        rcs["uac"] = uac.wait(limit + 30)
        last_bye = time.time()
        try:
            idle_at: float | None = wait_idle(wd, a.drain_timeout)
        except TimeoutError as exc:
            idle_at, errors["agent"] = None, [str(exc)]
        sampler.stop()
        watch.stop()
        rcs["uas"] = stop(uas, timeout=10)
    finally:
        stop(uac, timeout=10)
        stop(uas, timeout=10)
        for i, w in enumerate(workers):  # before the check: its exports would compete
            rcs[f"worker{i}"] = stop(w, timeout=90)
        if watch:
            watch.stop()
        rcs["agent"] = stop(agent)
    log = (wd / "agent.log").read_text(errors="replace").splitlines()
    res: dict[str, Any] = {
        "n": n,
        "rc": rcs,
        "uac": sipp_stats(wd / "uac.csv"),
        "uas": sipp_stats(wd / "uas.csv"),
        "agent_udp_drops": sum(sampler.drops.values()),
        "stderr": {k: v[-5:] for k, v in errors.items()},
        "agent_log_problems": [ln for ln in log if "ERROR" in ln or "Traceback" in ln][-20:],
        "drain_s": idle_at - last_bye if idle_at else None,
        "notice_to_ringing_s": spread([float(m) for ln in log for m in RINGING.findall(ln)]),
    }
    res.update(
        check_catalogue(
            cfg,
            wd,
            n,
            sipp_timeline(wd / "uac.msg.log"),
            keep=a.keep,
            gap_sample=a.gap_sample,
            steady_after_s=a.hold_max if a.steady else None,
        )
    )
    res.update(cpu_figures(res, idle, sampler, last_bye, idle_at))
    t0, t1 = res["live_span"]  # while calls were up (with no RTP, media-rx idles 0.5 s)
    res["thread_stalls"] = [s for s in watch.stalls if t0 <= s["start"] <= t1 - s["length_s"]]
    return res


def steady_xml(xml: str, hold_ms: int, pre_ms: int, a: argparse.Namespace) -> str:
    """The caller's scenario with a random start (INVITE) and a random bridged time."""
    fixed = f'<pause milliseconds="{hold_ms}"/>'
    assert xml.count(fixed) == 1 and xml.count('<send retrans="500">') == 2  # INVITE, BYE
    lo, hi = pre_ms + int(a.hold_min * 1000), pre_ms + int(a.hold_max * 1000)
    xml = xml.replace(fixed, f'<pause distribution="uniform" min="{lo}" max="{hi}"/>')
    jitter = f'  <pause distribution="uniform" min="0" max="{int(a.jitter * 1000)}"/>\n'
    return xml.replace('  <send retrans="500">', jitter + '  <send retrans="500">', 1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", default="50,100,200,300,400,500", help="the N to step through")
    p.add_argument("--repeat", type=int, default=2, help="runs per N")
    p.add_argument("--hold", type=float, default=30.0, help="bridged seconds per call")
    p.add_argument("--rate", type=float, default=30.0, help="calls placed per second")
    p.add_argument("--notice", type=float, default=1.5, help="notice length, s")
    p.add_argument("--grace", type=float, default=3.0, help="consent.objection_grace_s")
    p.add_argument("--ring-ms", type=int, default=200, help="the queue rings this long (180)")
    p.add_argument("--rtp-threadtasks", type=int, default=16, help="sipp -rtp_threadtasks")
    p.add_argument("--drain-timeout", type=float, default=900.0)
    p.add_argument("--workers", type=int, default=1, help="`callvault worker` processes")
    p.add_argument("--worker-nice", type=int, default=0, help="their niceness (serve: 0)")
    p.add_argument("--agent-nice", type=int, default=0, help="niceness of the agent and both sipp")
    p.add_argument("--handoff-workers", type=int, default=8, help="sip.handoff_workers")
    p.add_argument("--max-calls", type=int, help="sip.max_calls (default min(1000, N + 20))")
    p.add_argument("--steady", action="store_true", help="random arrivals and hold times")
    p.add_argument("--hold-min", type=float, default=60.0, help="--steady: bridged s, least")
    p.add_argument("--hold-max", type=float, default=180.0, help="--steady: bridged s, most")
    p.add_argument("--jitter", type=float, default=30.0, help="--steady: INVITE delay, most")
    p.add_argument("--gap-sample", type=int, help="scan this many calls for gaps (all)")
    p.add_argument("--keep-going", action="store_true", help="go on after an N fails")
    p.add_argument("--workdir", help="keep every run's files (and exports) here")
    p.add_argument("--out", help="JSON file (default bench/out/sip_capacity[.quick].json)")
    p.add_argument("--quick", action="store_true", help="10 calls x 10 s, once")
    a = p.parse_args()
    if a.quick:
        a.calls, a.hold, a.repeat = "10", 10.0, 1
    if a.steady:
        a.repeat, a.hold = 1, (a.hold_min + a.hold_max) / 2
        a.gap_sample = 200 if a.gap_sample is None else a.gap_sample
        a.max_calls = a.max_calls or 1000
    a.keep = bool(a.workdir)
    raise_nofile()
    info, started, steps = machine(), time.time(), []
    with tempfile.TemporaryDirectory(prefix="sipcap-") as tmp:
        base = Path(a.workdir or tmp)
        base.mkdir(parents=True, exist_ok=True)
        voices = {
            "caller": make_speech(CALLER_TEXT, "en-gb", base / "caller.wav"),
            "staff": make_speech(STAFF_TEXT, "en-us", base / "staff.wav"),
            "notice": make_notice(base / "notice.wav", a.notice),
        }
        te_pt = int(
            subprocess.run(
                [sys.executable, "-c", PT_PROBE],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout.split()[-1]
        )
        for n in (int(x) for x in a.calls.split(",")):
            for rep in range(a.repeat):
                print(
                    f"N={n} run {rep + 1}/{a.repeat}: {n} calls at {a.rate:g}/s, "
                    f"{a.hold:g} s bridged ...",
                    file=sys.stderr,
                    flush=True,
                )
                try:
                    for attempt in range(3):  # a free port taken by another job meanwhile
                        try:
                            wd = base / (f"n{n}-{rep + 1}" + (f"-{attempt}" if attempt else ""))
                            r = run_step(n, a, voices, te_pt, wd)
                            break
                        except RuntimeError as exc:
                            if "already in use" not in str(exc) or attempt == 2:
                                raise
                except Exception as exc:  # recorded; the ladder stops here
                    r = {
                        "n": n,
                        "error": repr(exc),
                        "all_complete": False,
                        "traceback": traceback.format_exc(),
                    }
                steps.append(r)
                print(r.get("traceback") or summary([r]), file=sys.stderr, flush=True)
            if not all(r["all_complete"] for r in steps if r["n"] == n) and not a.keep_going:
                break
    info["loadavg_end"] = os.getloadavg()
    result = {
        "machine": info,
        "args": vars(a),
        "te_pt": te_pt,
        "elapsed_s": time.time() - started,
        "capacity_all_complete": capacity(steps),
        "steps": steps,
    }
    name = "sip_capacity.quick.json" if a.quick else "sip_capacity.json"
    name = "sip_capacity.steady.json" if a.steady else name
    out = Path(a.out).resolve() if a.out else BENCH / "out" / name
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(
        f"{info['cpu_model']}, {info['nproc']} CPUs, {info['date']}, load "
        f"{info['loadavg_start'][0]:.2f} -> {info['loadavg_end'][0]:.2f}"
    )
    print(summary(steps))
    print(
        f"largest N with every recording complete in every run: "
        f"{result['capacity_all_complete']} (details in {out})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
