"""`callvault demo`: a real SIP call on loopback, from the caller's voice to an encrypted,
catalogued, exportable stereo recording with its consent record, narrated step by step.

The agent runs as a `callvault agent` subprocess (pjsua2 allows one Endpoint per process);
the caller and the service queue are pjsua2 peers in this process, speaking espeak-ng speech.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from callvault.wiring import Services
from storage.audit import verify_chain
from storage.errors import StorageError
from storage.retrieval import ListFilter

CALLER_LINES = (
    "Hello, I am calling about my council tax bill. "
    "I think I have been charged twice for November, and I would like a refund please."
)
STAFF_LINES = (
    "Thank you for calling Brentwood Borough Council. "
    "I can see the duplicate payment on your account, and I will refund it today."
)


def _say(espeak: str, ffmpeg: str, text: str, voice: str, out: Path) -> None:
    raw = out.with_suffix(".raw.wav")
    subprocess.run(
        [espeak, "-v", voice, "-s", "150", "-w", str(raw), text], check=True, capture_output=True
    )
    subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-y",
            "-i",
            str(raw),
            "-ar",
            "8000",
            "-ac",
            "1",
            "-c:a",
            "pcm_s16le",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    raw.unlink()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _step(n: int, text: str) -> None:
    print(f"\n[{n}] {text}", flush=True)


def run_demo(svc: Services, *, actor: str, workdir: Path | None = None) -> int:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise StorageError(
            "espeak-ng is not installed (apt-get install espeak-ng); "
            "the demo speaks both sides of its call with it"
        )
    try:
        from telephony.peers import place_demo_call
    except ImportError as exc:
        raise StorageError(f"pjsua2 is not installed ({exc}); run `make pjsua2`") from None
    s = svc.settings
    work = workdir or (s.var_dir / "demo")
    work.mkdir(parents=True, exist_ok=True)
    print(
        "callvault demo: a SIP call from the caller's voice to an encrypted, catalogued recording"
    )
    store = s.store.path if s.store.backend == "filesystem" else f"s3://{s.s3.bucket}"
    print(f"    catalogue : {svc.catalogue.safe_url}")
    print(f"    objects   : {svc.store.name} ({store})")
    print(f"    keys      : {s.keys.mode} in {s.keys.dir}")

    _step(1, "callvault init: keys, spool, object store and catalogue schema")
    for line in svc.init():
        print(f"    {line}")

    _step(2, "two voices made with espeak-ng: the caller (en-GB) and the council (en-US)")
    caller_wav, staff_wav = work / "caller.wav", work / "staff.wav"
    _say(espeak, s.audio.ffmpeg, CALLER_LINES, "en-gb", caller_wav)
    _say(espeak, s.audio.ffmpeg, STAFF_LINES, "en-us", staff_wav)
    print(f"    {caller_wav}\n    {staff_wav}")

    sip_port, queue_port, control_port = _free_port(), _free_port(), _free_port()
    _step(
        3,
        f"start the SIP agent on 127.0.0.1:{sip_port} (queue: a pjsua2 peer on port {queue_port})",
    )
    token = work / "control.json"
    token.unlink(missing_ok=True)
    env = {**os.environ, "CALLVAULT_SIP_CONTROL_TOKEN_FILE": str(token)}
    cmd = [sys.executable, "-m", "callvault.cli"]
    if s.config_file:
        cmd += ["--config", str(s.config_file)]
    cmd += [
        "agent",
        "--sip-host",
        "127.0.0.1",
        "--sip-port",
        str(sip_port),
        "--control-port",
        str(control_port),
        "--queue-uri",
        f"sip:queue@127.0.0.1:{queue_port}",
    ]
    log_path = work / "agent.log"
    with open(log_path, "w") as log:
        agent = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=s.base_dir)
    try:
        deadline = time.monotonic() + 30
        while not token.exists():
            if agent.poll() is not None or time.monotonic() > deadline:
                raise StorageError(f"the agent did not start; see {log_path}")
            time.sleep(0.1)
        print(f"    agent running (pid {agent.pid}, log {log_path})")
        before = {r["id"] for r in svc.recordings().list(ListFilter())}

        _step(4, "the call: notice, then bridge to the queue, both legs recorded")
        place_demo_call(
            f"sip:100@127.0.0.1:{sip_port}",
            queue_port,
            caller_wav,
            staff_wav,
            talk_s=8,
            progress=lambda m: print(f"    {m}", flush=True),
            headers={"X-Case-ID": "CT-2026-0001"},
        )
        rid = _wait_for_recording(svc, before, agent, log_path)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)

    view = svc.recordings().show(rid)
    _step(5, "stored: merged to stereo (caller left, staff right), Opus, encrypted, catalogued")
    print(
        f"    recording {rid}: {view['format']}, {view['duration_s']} s, "
        f"{view['channels']} channels, {view['stored_bytes']} bytes encrypted, "
        f"case ids {', '.join(view['case_ids']) or '-'} (from the X-Case-ID header)"
    )
    with svc.store.open(view["object_key"]) as fh:
        head = fh.read(16)
    print(f"    object key  : {view['object_key']}  (no number, no name)")
    print(f"    first bytes : {head.hex()}  (not 'RIFF' or 'OggS': ciphertext)")
    print(
        f"    caller      : keyed hash {str(view['caller_hash'])[:16]}..., number sealed "
        "under the recording's own key"
    )
    print(f"    data key    : wrapped by {view['kek_id']}, stored in the catalogue only")

    _step(6, "its consent record: what the caller was told and chose")
    print("    " + json.dumps(view["consent"], indent=2).replace("\n", "\n    "))

    _step(7, "export for a supervisor (audited: who, when, why), decrypted and verified")
    out = work / f"{rid}.wav"
    exp = svc.recordings().export(
        rid, out, reason="demo: quality monitoring", actor=actor, fmt="wav"
    )
    info = svc.audio.probe(out)
    print(
        f"    {exp.path}: {info.channels} channels, {info.sample_rate} Hz, "
        f"{info.duration_s:.2f} s (checksums of ciphertext and plaintext verified)"
    )

    _step(8, "callvault audit verify: the hash chain over every action")
    with svc.catalogue.session() as sess:
        res = verify_chain(sess)
    print(
        f"    {'intact' if res.ok else 'BROKEN: ' + str(res.problem)}: {res.count} events, "
        f"head {res.head_hash[:16]}..."
    )
    print(
        f"\nDone at {datetime.now(UTC):%H:%M:%S} UTC. Try: .venv/bin/callvault recordings "
        f"list   |   .venv/bin/callvault recordings show {rid}"
    )
    return 0 if res.ok else 1


def _wait_for_recording(
    svc: Services, before: set[str], agent: subprocess.Popen[bytes], log_path: Path
) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = [r["id"] for r in svc.recordings().list(ListFilter()) if r["id"] not in before]
        if new:
            return str(new[0])
        if agent.poll() is not None:
            break
        time.sleep(0.3)
    raise StorageError(f"no recording was stored; see {log_path}")
