"""One call's audio on pjsua2's conference bridge: the player, the bridge, the recorders.

Pause is the recorders' input level at 0: the bridge feeds them exact digital silence, so the
WAVs keep their length and every timestamp stays true (ADR 0002). Every pjsua2 object made
here stays referenced by this object until it is meant to go: dropping a player or recorder
destroys it (a recorder's WAV header is completed then).
"""

from __future__ import annotations

import collections
import contextlib
import time
from pathlib import Path
from typing import Any

import pjsua2 as pj

# pjsua2 runs a player's end-of-file callback on pjmedia's event thread (ev_thread) with the
# C++ player as its argument: a player destroyed between its EOF and that callback crashes the
# process (segfault in AudioMediaPlayer::eof_cb, seen with ~20 calls a node in
# tests/multinode). A player that goes is muted and kept RETIRE_S before it is destroyed.
RETIRE_S = 5.0
_retired: collections.deque[tuple[float, Any]] = collections.deque()


def _retire(player: Any) -> None:
    with contextlib.suppress(pj.Error):
        player.adjustRxLevel(0.0)
    _retired.append((time.monotonic(), player))
    reap()


def reap(everything: bool = False) -> None:
    """Destroy the players retired RETIRE_S ago (all of them before libDestroy)."""
    now = time.monotonic()
    while _retired and (everything or now - _retired[0][0] >= RETIRE_S):
        _retired.popleft()


class CallMedia:
    """The media objects of one call; used on the SIP thread only."""

    def __init__(self) -> None:
        self.player: Any = None
        self.recorders: list[Any] = []

    def play(self, path: Path, to: Any) -> None:
        """Play a WAV once to a leg's audio (replacing whatever was playing)."""
        player = pj.AudioMediaPlayer()
        player.createPlayer(str(path), pj.PJMEDIA_FILE_NO_LOOP)
        player.startTransmit(to)
        self.stop_playing()
        self.player = player

    def stop_playing(self) -> None:
        if self.player is not None:
            _retire(self.player)
        self.player = None

    def __del__(self) -> None:
        self.stop_playing()

    def bridge(self, caller: Any, staff: Any, record_to: tuple[Path, Path] | None) -> None:
        """Connect the two legs both ways; with record_to, one recorder per leg as well."""
        caller.startTransmit(staff)
        staff.startTransmit(caller)
        if record_to is None:
            return
        for media, path in ((caller, record_to[0]), (staff, record_to[1])):
            rec = pj.AudioMediaRecorder()
            rec.createRecorder(str(path))
            media.startTransmit(rec)
            self.recorders.append(rec)

    def set_recording_level(self, level: float) -> None:
        for rec in self.recorders:
            rec.adjustRxLevel(level)

    def stop_recording(self) -> None:
        self.recorders.clear()  # destroys them: the WAV headers are finalised

    @property
    def recording(self) -> bool:
        return bool(self.recorders)
