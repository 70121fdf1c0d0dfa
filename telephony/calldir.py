"""A live call's directory in the spool, and the one thread that writes call records to disk.

`spool/calls/<flow-id>/` holds `call.json` (storage/call_record.py), `caller.wav` and
`staff.wav` (the recorders write these themselves) and `.lock`, held with flock while the call
lives. The SIP thread only creates the directory and takes the lock; every `call.json` write
and its fsyncs happen on the RecordWriter's thread, so no disk wait stalls SIP and RTP. Writes
for one call are coalesced (only the newest record matters) and kept in order with what must
follow them (deleting discarded audio, the hand-off).
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import threading
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


class RecordWriter:
    """Writes call records off the SIP thread: the newest per call, in the order queued."""

    def __init__(self) -> None:
        self._latest: dict[str, tuple[CallDir, bytes]] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="call-records", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def save(self, calldir: CallDir, record: CallRecord) -> None:
        """Queue the record for writing; a newer one for the same call replaces it."""
        data = record.to_json()
        with self._lock:
            queued = calldir.flow_id in self._latest
            self._latest[calldir.flow_id] = (calldir, data)
        if not queued:
            self._queue.put(calldir.flow_id)

    def then(self, fn: Callable[[], None]) -> None:
        """Run fn on the writer's thread once everything queued before it is on disk."""
        self._queue.put(fn)

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
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
