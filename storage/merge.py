"""Two mono call legs → one stereo WAV (caller left, staff right), streamed in small chunks.

Memory stays flat whatever the length of the call (a 2-hour call merges in a few MB; pydub's
whole-file merge held about 0.5 GB). Legs of the same rate and 16-bit samples (what the SIP
recorder writes) are interleaved in Python; anything else goes through one ffmpeg process,
which streams too.
"""

from __future__ import annotations

import os
import subprocess
import wave
from array import array
from pathlib import Path

from storage.errors import StorageError

FRAMES = 1 << 16  # per chunk: 64 Ki frames = 128 KiB per leg at 16 bits


def _open(path: Path) -> wave.Wave_read:
    try:
        return wave.open(str(path), "rb")
    except (wave.Error, EOFError) as exc:
        raise StorageError(f"{path.name}: not a PCM WAV leg ({exc})") from exc


def merge_legs(left: Path, right: Path, dst: Path, *, ffmpeg: str = "ffmpeg") -> float:
    """Write dst (16-bit stereo WAV, padded with silence to the longer leg, fsync'd); returns
    its length in seconds."""
    with _open(left) as a, _open(right) as b:
        same = (
            a.getnchannels() == b.getnchannels() == 1
            and a.getsampwidth() == b.getsampwidth() == 2
            and a.getframerate() == b.getframerate()
        )
        if same:
            return _interleave(a, b, dst)
        seconds = max(a.getnframes() / a.getframerate(), b.getnframes() / b.getframerate())
        rate = max(a.getframerate(), b.getframerate())
    return _merge_with_ffmpeg(left, right, dst, rate, seconds, ffmpeg)


def _interleave(a: wave.Wave_read, b: wave.Wave_read, dst: Path) -> float:
    rate = a.getframerate()
    total = max(a.getnframes(), b.getnframes())
    out = array("h", bytes(4 * FRAMES))
    with open(dst, "wb") as fh:
        with wave.open(fh, "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.setnframes(total)  # the header is right first time: no seek back needed
            done = 0
            while done < total:
                n = min(FRAMES, total - done)
                left, right = _samples(a, n), _samples(b, n)
                frame = out[: 2 * n] if n < FRAMES else out
                frame[0::2], frame[1::2] = left, right
                w.writeframesraw(frame.tobytes())
                done += n
        fh.flush()
        os.fsync(fh.fileno())
    return total / rate


def _samples(leg: wave.Wave_read, n: int) -> array[int]:
    """n samples of a leg, silence past its end (a leg may be shorter than the other)."""
    got = array("h")
    got.frombytes(leg.readframes(n))
    if len(got) < n:
        got.extend(array("h", bytes(2 * (n - len(got)))))
    return got


def _merge_with_ffmpeg(
    left: Path, right: Path, dst: Path, rate: int, seconds: float, ffmpeg: str
) -> float:
    leg = f"aresample={rate},aformat=sample_fmts=s16:channel_layouts=mono,apad"
    cmd = [
        ffmpeg,
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-y",
        "-i",
        str(left),
        "-i",
        str(right),
        "-filter_complex",
        f"[0:a]{leg}[l];[1:a]{leg}[r];[l][r]join=inputs=2:channel_layout=stereo[out]",
        "-map",
        "[out]",
        "-t",
        f"{seconds:.6f}",
        "-map_metadata",
        "-1",
        "-c:a",
        "pcm_s16le",
        "-f",
        "wav",
        str(dst),
    ]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    except FileNotFoundError:
        raise StorageError(f"ffmpeg not found at {ffmpeg!r} (audio.ffmpeg)") from None
    if r.returncode != 0:
        detail = (r.stderr.strip().splitlines() or ["ffmpeg failed"])[-1]
        raise StorageError(f"cannot merge {left.name} and {right.name} ({detail})")
    with open(dst, "rb+") as fh:
        os.fsync(fh.fileno())
    return seconds
