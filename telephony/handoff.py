"""From a call's directory in the spool to the ingest pipeline (or a consent-only record).

A live call writes `spool/calls/<flow-id>/` (telephony/calldir.py): `call.json` (the call
record, storage/call_record.py, rewritten atomically at each change), `caller.wav` and
`staff.wav` (one recorder per leg), and `.lock`, held with flock by the agent while the call
lives. The legs are cut to the moment the hang-up arrived (the recorders run on until the
agent's loop destroys them). A directory whose lock is free
belongs to a call whose agent died: `recover()` stores what it holds, marked incomplete. The
flow ID doubles as the recording ID, so handing the same call over twice cannot create two
recordings.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from consent.records import store_consent_only
from storage import metrics
from storage.call_record import CallRecord
from storage.catalogue.models import Recording
from storage.clock import utcnow
from storage.fsutil import fsync_dir
from storage.ingest import IngestPipeline, IngestRequest, IngestResult
from storage.merge import merge_legs

log = logging.getLogger(__name__)
WAV_HEADER = 44


def repair_wav(path: Path, max_seconds: float | None = None) -> float:
    """Fix the size fields of a WAV whose writer died before closing it; returns seconds.

    pjmedia's WAV writer fills in the RIFF and data sizes only when the recorder is destroyed,
    so after a crash they are stale. The samples themselves are on disk. With max_seconds, the
    audio is cut there (never padded).
    """
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        head = fh.read(WAV_HEADER)
        if len(head) < WAV_HEADER or head[:4] != b"RIFF" or head[36:40] != b"data":
            raise ValueError(f"{path} is not a WAV file written by the recorder")
        channels, rate = struct.unpack("<HI", head[22:28])
        bits = struct.unpack("<H", head[34:36])[0]
        frame = channels * bits // 8
        data = (size - WAV_HEADER) // frame * frame
        if max_seconds is not None:
            data = min(data, int(max_seconds * rate) * frame)
        fh.seek(4)
        fh.write(struct.pack("<I", WAV_HEADER - 8 + data))
        fh.seek(40)
        fh.write(struct.pack("<I", data))
        fh.truncate(WAV_HEADER + data)
        fh.flush()
        os.fsync(fh.fileno())
    return float(data / frame / rate)


RECORDLESS_GRACE_S = 10  # a call directory this young without call.json may be a live one


@dataclass(frozen=True)
class HandoffResult:
    flow_id: str
    # recording | consent-only | signalling-only | already-stored | nothing-recorded | failed: <why>
    kind: str
    ingest: IngestResult | None = None
    complete: bool = True  # False: the call was still live when its agent stopped (partial)


class Handoff:
    """Runs on a worker thread (never the pjsua2 thread): merge, spool, commit. Only cheap work
    happens here (the WAV is committed as it is); compression is for `callvault worker`."""

    def __init__(self, pipeline: IngestPipeline, *, actor: str = "sip-agent") -> None:
        self.pipeline = pipeline
        self.actor = actor

    def finish(self, path: Path, *, complete: bool | None = True) -> HandoffResult:
        """complete=None: as the call record says (whole when the call ended, else partial)."""
        record = CallRecord.from_json((path / "call.json").read_bytes())
        flow_id = record.flow_id
        if complete is None:
            complete = record.ended_at is not None
        if record.signalling_only:
            # Answered but the notice never played (never ACKed, no media, e.g. an INVITE
            # flood): nobody was told anything or recorded, so no consent record is due.
            self._remove(path)
            return HandoffResult(flow_id, "signalling-only")
        consent = dict(record.consent)
        if not complete:
            consent["incomplete"] = True
            consent["ended_by"] = consent.get("ended_by") or "agent-stopped"
        caller, staff = path / "caller.wav", path / "staff.wav"
        has_audio = consent.get("recorded") and caller.is_file() and staff.is_file()
        if not has_audio:
            store_consent_only(
                self.pipeline.catalogue,
                record.call_id,
                consent,
                actor=self.actor,
                caller_hash=self.pipeline.hasher.hash_or_none(record.caller),
            )
            self._remove(path)
            return HandoffResult(flow_id, "consent-only")
        if self._already_handed_over(flow_id):
            self._remove(path)
            return HandoffResult(flow_id, "already-stored")
        for leg in (caller, staff):
            repair_wav(leg, record.recorded_seconds())
        stereo = path / "stereo.wav"
        merge_legs(caller, staff, stereo, ffmpeg=self.pipeline.audio.ffmpeg)  # flat memory
        request = IngestRequest(
            call_id=record.call_id,
            caller=record.caller,
            service=record.service,
            agent=record.queue_uri,
            case_ids=tuple(record.case_ids),
            case_source="sip-header",
            consent=consent,
            started_at=record.timing.recording_started_at or record.bridged_at,
            complete=complete,
        )
        job = self.pipeline.submit(  # recorded already: bad metadata is marked, not refused
            stereo, request, actor=self.actor, move=True, recording_id=flow_id, lenient=True
        )
        self._remove(path)  # the job in the spool is now the durable copy
        result = self.pipeline.process(job.id)
        if result.state == "stored" and record.ended_at is not None:
            metrics.HANGUP_TO_COMMITTED.observe((utcnow() - record.ended_at).total_seconds())
        return HandoffResult(flow_id, "recording", result, complete)

    def _already_handed_over(self, flow_id: str) -> bool:
        if (self.pipeline.spool.jobs_dir / flow_id).is_dir():
            return True
        with self.pipeline.catalogue.session() as s:
            return s.get(Recording, flow_id) is not None

    def _without_record(self, path: Path) -> list[HandoffResult]:
        """A call directory with no call.json: its agent died between taking the call and
        writing its first record (records are written off the SIP thread). Left alone while
        young (a live agent creates the directory, then takes its lock); then, holding
        nothing but its lock it is removed (nobody was told or recorded anything), and
        holding audio it is sealed in the quarantine with an alarm, never left silently."""
        if self._young(path):
            return []
        if {p.name for p in path.iterdir()} <= {".lock"}:
            log.warning("call %s left by a stopped agent before its first record: removed", path)
            self._remove(path)
            return [HandoffResult(path.name, "nothing-recorded")]
        return [self._set_aside(path, ValueError("no call record (call.json) beside the audio"))]

    @staticmethod
    def _young(path: Path) -> bool:
        return time.time() - path.stat().st_mtime < RECORDLESS_GRACE_S

    @staticmethod
    def _remove(path: Path) -> None:
        shutil.rmtree(path)
        fsync_dir(path.parent)

    def _set_aside(self, path: Path, exc: Exception) -> HandoffResult:
        try:
            where = self.pipeline.quarantine.put(path, path.name, exc, area="quarantine")
        except Exception as err:
            log.error("ALARM call %s cannot be recovered nor sealed (%s; %s)", path.name, exc, err)
            return HandoffResult(path.name, f"failed: {exc}")
        log.error("ALARM call %s cannot be stored: %s (sealed in %s)", path.name, exc, where)
        return HandoffResult(path.name, f"failed: {exc}; sealed in {where}")

    def recover(self) -> list[HandoffResult]:
        """Store every call directory whose agent is gone (its lock is free): as incomplete
        when the call was still live, whole when it had ended and only its hand-over failed
        (e.g. the catalogue down while the agent ran on)."""
        results = []
        root = self.pipeline.spool.calls_dir
        for path in sorted(root.iterdir()) if root.is_dir() else []:
            if not path.is_dir():
                continue
            if not (path / "call.json").is_file() and self._young(path):
                continue  # not even its lock touched: a live agent may be taking it now
            fd = os.open(path / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live call of a running agent
                if not (path / "call.json").is_file():
                    results.extend(self._without_record(path))
                    continue
                log.warning("recovering call %s left by a stopped agent", path.name)
                try:
                    results.append(self.finish(path, complete=None))
                except (OSError, SQLAlchemyError) as exc:  # this node's disk or database
                    log.error(
                        "ALARM call %s not recovered yet, stays in %s: %s", path.name, path, exc
                    )
                    results.append(HandoffResult(path.name, f"failed: {exc}"))
                except Exception as exc:  # the call itself: sealed in the quarantine
                    results.append(self._set_aside(path, exc))
            finally:
                os.close(fd)
        return results
