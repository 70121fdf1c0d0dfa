"""A two-channel waveform (caller above, staff below) with the paused intervals marked, as SVG.

Peaks are computed on the server from the decrypted audio, piped through ffmpeg (decoded to
low-rate PCM in memory; nothing reaches the disk), and cached per recording in this process.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import quoteattr

from storage.retrieval import AudioStream

RATE = 4000  # Hz: plenty for a picture, a quarter of the work of 16 kHz
BUCKETS = 500
_CACHE: OrderedDict[str, tuple[list[float], list[float]]] = OrderedDict()
_LOCK = threading.Lock()


def peaks(
    open_audio: Callable[[], AudioStream], ffmpeg: str, duration_s: float, cache_key: str
) -> tuple[list[float], list[float]]:
    with _LOCK:
        if cache_key in _CACHE:
            _CACHE.move_to_end(cache_key)
            return _CACHE[cache_key]
    result = _compute(open_audio, ffmpeg, duration_s)
    with _LOCK:
        _CACHE[cache_key] = result
        while len(_CACHE) > 256:
            _CACHE.popitem(last=False)
    return result


def _compute(
    open_audio: Callable[[], AudioStream], ffmpeg: str, duration_s: float
) -> tuple[list[float], list[float]]:
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-i", "pipe:0"]
    cmd += ["-ac", "2", "-ar", str(RATE), "-f", "s16le", "-c:a", "pcm_s16le", "pipe:1"]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    if proc.stdin is None or proc.stdout is None:  # pragma: no cover - Popen(PIPE) sets both
        raise RuntimeError("ffmpeg pipes are missing")
    stdin = proc.stdin
    failure: list[BaseException] = []

    def feed() -> None:
        try:
            with open_audio() as audio:
                while chunk := audio.read():
                    stdin.write(chunk)
        except BrokenPipeError:
            pass
        except BaseException as exc:
            failure.append(exc)
        finally:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()

    feeder = threading.Thread(target=feed, name="waveform-feed", daemon=True)
    feeder.start()
    frames_per = max(1, int(duration_s * RATE / BUCKETS) + 1)
    block = frames_per * 4  # two 16-bit samples per frame
    left: list[float] = []
    right: list[float] = []
    pending = b""
    try:
        while True:
            data = proc.stdout.read(1 << 16)
            if not data:
                break
            pending += data
            while len(pending) >= block:
                _bucket(pending[:block], left, right)
                pending = pending[block:]
        if len(pending) >= 4:
            _bucket(pending[: len(pending) - len(pending) % 4], left, right)
    finally:
        proc.stdout.close()
        proc.wait()
        feeder.join()
    if failure:
        raise failure[0]
    return left, right


def _bucket(raw: bytes, left: list[float], right: list[float]) -> None:
    samples = array("h", raw)
    for lane, out in ((samples[0::2], left), (samples[1::2], right)):
        out.append(max(max(lane), -min(lane)) / 32768 if lane else 0.0)


def svg(
    left: list[float],
    right: list[float],
    duration_s: float,
    paused: list[dict[str, Any]],
) -> str:
    """The picture; each paused interval is a shaded band with a <title> saying when."""
    w, lane_h = 1000, 60
    n = max(len(left), 1)
    step = w / n
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {2 * lane_h + 10}" '
        'role="img" aria-labelledby="t"><title id="t">Waveform: caller (top), staff (bottom)'
        "</title>",
        f'<rect x="0" y="0" width="{w}" height="{2 * lane_h + 10}" fill="#ffffff"/>',
    ]
    for p in paused:
        start = float(p.get("offset_s") or 0)
        end = p.get("end_offset_s")
        end_s = float(end) if end is not None else duration_s
        if duration_s > 0:
            x0 = w * max(0.0, start) / duration_s
            x1 = w * min(duration_s, end_s) / duration_s
            label = quoteattr(f"paused {start:.1f}s to {end_s:.1f}s")[1:-1]
            parts.append(
                f'<rect class="paused" x="{x0:.1f}" y="0" width="{max(1.0, x1 - x0):.1f}" '
                f'height="{2 * lane_h + 10}" fill="#f4c542" fill-opacity="0.45">'
                f"<title>{label}</title></rect>"
            )
    for lane, values, colour in ((0, left, "#1d5fa8"), (1, right, "#1f7a3f")):
        mid = lane * (lane_h + 10) + lane_h / 2
        for i, v in enumerate(values):
            h = max(1.0, v * lane_h)
            bar_w = max(step - 0.3, 0.5)
            parts.append(
                f'<rect x="{i * step:.1f}" y="{mid - h / 2:.1f}" width="{bar_w:.2f}" '
                f'height="{h:.1f}" fill="{colour}"/>'
            )
    parts.append("</svg>")
    return "".join(parts)
