"""Test speech for bench/sip_capacity.py, and the gap check on what the agent stored.

sipp loops each side's file for the whole call (`rtp_stream`), so the speech must be continuous:
espeak-ng's pauses are cut to at most 80 ms and a white-noise floor (about -50 dBFS) is mixed
under it. No 20 ms frame of the source is then quieter than that floor, and a stretch of
near-digital silence in a recording can only be audio the agent lost (or never received).
"""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np

RATE = 8000
FRAME_MS = 20
SILENCE_DBFS = -65.0  # a 20 ms frame below this is "digital silence" (source floor: ~-50)
CALLER_TEXT = (
    "Hello, I am phoning about the bins on Ongar Road. They were not collected this week and "
    "the street is full of rubbish. My neighbour says the lorry came past at seven but it did "
    "not stop. Could somebody come out tomorrow morning, and could you give me a reference?"
)
STAFF_TEXT = (
    "Good morning, this is the council. I am sorry to hear that. Let me book a collection for "
    "tomorrow and give you a reference number. The crew will be there before ten o'clock, and "
    "I will add a note for the driver so that it does not happen again next week."
)


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def make_speech(text: str, voice: str, dst: Path, *, ulaw: bool = True) -> Path:
    """Continuous espeak-ng speech at 8 kHz over a noise floor; u-law WAV for rtp_stream."""
    raw, tight, noise, mixed = (dst.with_suffix(f".{n}.wav") for n in ("raw", "tight", "n", "m"))
    _run("espeak-ng", "-v", voice, "-s", "165", "-w", str(raw), text)
    # Cut every pause longer than 80 ms down to 80 ms (and trim the leading silence).
    _run(
        "sox",
        str(raw),
        "-r",
        str(RATE),
        "-c",
        "1",
        "-b",
        "16",
        str(tight),
        "silence",
        "-l",
        "1",
        "0.02",
        "-45d",
        "-1",
        "0.08",
        "-45d",
    )
    seconds = read_wav(tight)[0].size / RATE
    _run(
        "sox",
        "-n",
        "-r",
        str(RATE),
        "-c",
        "1",
        "-b",
        "16",
        str(noise),
        "synth",
        f"{seconds:.3f}",
        "whitenoise",
        "vol",
        "0.015",
    )
    _run("sox", "-m", "-v", "1", str(tight), "-v", "1", str(noise), str(mixed))
    args = ("-c:a", "pcm_mulaw") if ulaw else ("-c:a", "pcm_s16le")
    _run("ffmpeg", "-v", "error", "-y", "-i", str(mixed), *args, str(dst))
    for f in (raw, tight, noise, mixed):
        f.unlink()
    return dst


def make_notice(dst: Path, seconds: float) -> Path:
    """A short 16-bit notice for the agent (its length sets how soon calls are bridged)."""
    raw = dst.with_suffix(".raw.wav")
    _run("espeak-ng", "-v", "en-gb", "-w", str(raw), "This call may be recorded.")
    _run(
        "sox",
        str(raw),
        "-r",
        str(RATE),
        "-c",
        "1",
        "-b",
        "16",
        str(dst),
        "trim",
        "0",
        f"{seconds}",
        "pad",
        "0",
        f"{seconds}",
        "trim",
        "0",
        f"{seconds}",
    )
    raw.unlink()
    return dst


def read_wav(path: Path) -> list[np.ndarray]:
    """Each channel of a 16-bit WAV (u-law is decoded through ffmpeg) as float in [-1, 1]."""
    try:
        with wave.open(str(path)) as w:
            data = np.frombuffer(w.readframes(w.getnframes()), "<i2")
            ch = w.getnchannels()
            return [data[i::ch].astype(np.float64) / 32768.0 for i in range(ch)]
    except wave.Error:  # u-law: not a format the wave module reads
        pass
    pcm = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-f",
            "s16le",
            "-ac",
            "1",
            "-ar",
            str(RATE),
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return [np.frombuffer(pcm, "<i2").astype(np.float64) / 32768.0]


def frame_dbfs(x: np.ndarray) -> np.ndarray:
    """RMS level of each whole 20 ms frame, in dBFS."""
    n = RATE * FRAME_MS // 1000
    frames = x[: x.size // n * n].reshape(-1, n)
    levels: np.ndarray = 10 * np.log10(np.maximum((frames**2).mean(axis=1), 1e-12))
    return levels


def gaps(x: np.ndarray, lo_s: float, hi_s: float, min_ms: int = 200) -> list[tuple[float, float]]:
    """(start s, length s) of every run of silent frames >= min_ms between lo_s and hi_s."""
    db = frame_dbfs(x)
    lo, hi = int(lo_s * 1000 / FRAME_MS), int(hi_s * 1000 / FRAME_MS)
    silent = db < SILENCE_DBFS
    silent[:lo] = False
    silent[max(hi, 0) :] = False
    found, start = [], None
    for i, s in enumerate([*silent, False]):
        if s and start is None:
            start = i
        elif not s and start is not None:
            if (i - start) * FRAME_MS >= min_ms:
                found.append((start * FRAME_MS / 1000, (i - start) * FRAME_MS / 1000))
            start = None
    return found
