"""A live call's directory in the spool, and the one thread that writes call records to disk.

`spool/calls/<flow-id>/` holds `call.json` (storage/call_record.py), `caller.wav` and
`staff.wav` (the recorders write these themselves) and `.lock`, held with flock while the call
lives. The SIP thread only creates the directory and takes the lock; every `call.json` write
and its fsyncs happen on the RecordWriter's threads, so no disk wait stalls SIP and RTP. Writes
for one call are coalesced (only the newest record matters) and kept in order with what must
follow them (deleting discarded audio, the hand-off).
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import threading
import zlib
from collections.abc import Callable
from pathlib import Path

from storage.call_record import CallRecord
from storage.fsutil import atomic_write_bytes, fsync_dir

log = logging.getLogger(__name__)


class CallDir:
    """One live call's directory; the agent holds its lock until the call is handed over."""

    def __init__(self, root: Path, flow_id: str) -> None:
        self.path = root / flow_id
        self.flow_id = flow_id
        self._fd: int | None = None
        self.listed = False  # its entry in the calls directory is on disk (fsync'd once)

    @property
    def caller_wav(self) -> Path:
        return self.path / "caller.wav"

    @property
    def staff_wav(self) -> Path:
        return self.path / "staff.wav"

    def lock(self) -> None:
        """Create the directory (owner-only, as the spool) and hold its lock; no fsync here."""
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fd = os.open(self.path / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def write(self, data: bytes) -> None:
        atomic_write_bytes(self.path / "call.json", data)  # fsyncs the file and the directory

    def discard_audio(self) -> None:
        for leg in (self.caller_wav, self.staff_wav):
            leg.unlink(missing_ok=True)
        fsync_dir(self.path)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


_STOP = object()
WRITER_LANES = 4  # threads writing call records; one call's records always go through one


class RecordWriter:
    """Writes call records off the SIP thread: the newest per call, in the order queued.

    Records go through a few lanes (threads), a call always through the same one, so each
    call's records and what must follow them (deleting discarded audio, the hand-off) stay in
    order, while one call's fsyncs do not hold up another's. With one lane, at ~500 calls the
    hand-offs queued behind every call's fsyncs and fell minutes behind (bench/README.md, SIP
    capacity, steady state); several lanes let the filesystem commit their fsyncs together.
    """

    def __init__(self, lanes: int = WRITER_LANES) -> None:
        self._latest: dict[str, tuple[CallDir, bytes]] = {}
        self._lock = threading.Lock()
        self._queues: list[queue.Queue[object]] = [queue.Queue() for _ in range(lanes)]
        self._threads = [
            threading.Thread(target=self._run, args=(q,), name=f"call-records-{i}", daemon=True)
            for i, q in enumerate(self._queues)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def lane(self, flow_id: str) -> int:
        return zlib.crc32(flow_id.encode()) % len(self._queues)

    def save(self, calldir: CallDir, record: CallRecord) -> None:
        """Queue the record for writing; a newer one for the same call replaces it."""
        data = record.to_json()
        with self._lock:
            queued = calldir.flow_id in self._latest
            self._latest[calldir.flow_id] = (calldir, data)
        if not queued:
            self._queues[self.lane(calldir.flow_id)].put(calldir.flow_id)

    def then(self, calldir: CallDir, fn: Callable[[], None]) -> None:
        """Run fn on the call's lane once everything queued before it for the call is on disk."""
        self._queues[self.lane(calldir.flow_id)].put(fn)

    def stop(self) -> None:
        """Write what is queued, then end the threads."""
        for q, thread in zip(self._queues, self._threads, strict=True):
            if thread.is_alive():
                q.put(_STOP)
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def _run(self, q: queue.Queue[object]) -> None:
        while True:
            item = q.get()
            if item is _STOP:
                return
            try:
                if isinstance(item, str):
                    self._write(item)
                elif callable(item):
                    item()
            except Exception:  # one call's failure must not stop the others' records
                log.exception("call records: writing failed")

    def _write(self, flow_id: str) -> None:
        with self._lock:
            calldir, data = self._latest.pop(flow_id)
        calldir.write(data)
        if not calldir.listed:
            fsync_dir(calldir.path.parent)
            calldir.listed = True
