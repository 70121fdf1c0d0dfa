"""`callvault demo`: a generated two-sided call, ingested and exported on the configured store,
narrated step by step for a person to follow."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from callvault.wiring import Services
from storage.audio import merge_legs
from storage.audit import verify_chain
from storage.errors import StorageError
from storage.ingest import IngestRequest

CALLER_LINES = (
    "Hello, I am calling about my council tax bill. I think I have been charged twice for November."
)
STAFF_LINES = (
    "Thank you for calling Brentwood Borough Council. "
    "I can see the duplicate payment and I will refund it today."
)


def _say(espeak: str, text: str, voice: str, out: Path) -> None:
    subprocess.run(
        [espeak, "-v", voice, "-s", "150", "-w", str(out), text], check=True, capture_output=True
    )


def _step(n: int, text: str) -> None:
    print(f"\n[{n}] {text}")


def run_demo(svc: Services, *, actor: str, workdir: Path | None = None) -> int:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise StorageError(
            "espeak-ng is not installed (apt-get install espeak-ng); "
            "the demo speaks both sides of its call with it"
        )
    s = svc.settings
    work = workdir or (s.var_dir / "demo")
    work.mkdir(parents=True, exist_ok=True)
    print("callvault demo: one call from the caller's voice to an encrypted, catalogued recording")
    print(f"    catalogue : {svc.catalogue.safe_url}")
    print(
        f"    objects   : {svc.store.name} "
        f"({s.store.path if s.store.backend == 'filesystem' else s.s3.bucket})"
    )
    print(f"    keys      : {s.keys.mode} in {s.keys.dir}")

    _step(1, "callvault init: keys, spool, object store and catalogue schema")
    for line in svc.init():
        print(f"    {line}")

    _step(2, "a call: the caller speaks on the left channel, staff on the right (espeak-ng)")
    left, right, stereo = work / "caller.wav", work / "staff.wav", work / "call.wav"
    _say(espeak, CALLER_LINES, "en-gb", left)
    _say(espeak, STAFF_LINES, "en-us", right)
    seconds = merge_legs(left, right, stereo)
    print(f"    {stereo} ({seconds:.1f} s stereo, {stereo.stat().st_size} bytes of WAV)")

    _step(3, "ingest: spool (fsync) -> probe -> transcode -> encrypt -> upload -> commit")
    call_id = f"demo-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    consent = {
        "notice": {"id": "customer-service", "version": "2026-01", "language": "en-GB"},
        "notice_seconds_played": 9.5,
        "notice_completed": True,
        "objection": None,
        "recorded": True,
        "lawful_basis": "public task (UK GDPR Art. 6(1)(e))",
        "purposes": ["quality monitoring", "training", "complaint investigation"],
    }
    result = svc.pipeline(on_step=lambda state, job: print(f"    step done: {state}")).ingest(
        stereo,
        IngestRequest(
            call_id=call_id,
            caller="+44 1277 312 500",
            service="council-tax",
            agent="demo-agent",
            case_ids=("CT-2026-0001",),
            consent=consent,
        ),
        actor=actor,
    )
    if result.state != "stored":
        raise StorageError(f"demo ingest ended {result.state}: {result.message}")
    rid = result.recording_id
    view = svc.recordings().show(rid)
    print(
        f"    stored recording {rid}: {view['format']}, {view['duration_s']} s, "
        f"{view['stored_bytes']} bytes encrypted (from {stereo.stat().st_size} bytes of WAV)"
    )

    _step(4, "what is at rest: the object carries no plaintext audio and no personal data")
    with svc.store.open(view["object_key"]) as fh:
        head = fh.read(16)
    print(f"    object key  : {view['object_key']}  (no number, no name)")
    print(f"    first bytes : {head.hex()}  (not 'RIFF' or 'OggS': ciphertext)")
    print(
        f"    caller      : keyed hash {view['caller_hash'][:16]}..., number sealed under the "
        "recording's own key"
    )
    print(f"    data key    : wrapped by {view['kek_id']}, stored in the catalogue only")

    _step(5, "the catalogue entry, as `callvault recordings show` prints it (--json)")
    print("    " + json.dumps(view, indent=2).replace("\n", "\n    "))

    _step(6, "export for a supervisor (audited: who, when, why), decrypted and verified")
    out = work / f"{rid}.wav"
    exp = svc.recordings().export(
        rid, out, reason="demo: quality monitoring", actor=actor, fmt="wav"
    )
    info = svc.audio.probe(out)
    print(
        f"    {exp.path}: {info.channels} channels, {info.sample_rate} Hz, "
        f"{info.duration_s:.2f} s (checksums of ciphertext and plaintext verified)"
    )

    _step(7, "callvault audit verify: the hash chain over every action")
    with svc.catalogue.session() as sess:
        res = verify_chain(sess)
    print(
        f"    {'intact' if res.ok else 'BROKEN: ' + str(res.problem)}: {res.count} events, "
        f"head {res.head_hash[:16]}..."
    )
    print(
        "\nDone. Try: .venv/bin/callvault recordings list   |   "
        f".venv/bin/callvault recordings show {rid}"
    )
    return 0 if res.ok else 1
