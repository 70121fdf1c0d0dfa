"""HTTP Range over decrypted audio: one range per request (206), or 416; never touches disk.

The plaintext length comes from the catalogue, so the answer's headers are known before the
first byte is decrypted. A seek fetches the object from the encrypted part that holds the
offset (storage/parts.py: 1 MiB parts, each its own Tink stream), so it decrypts at most one
part it does not need, whatever the recording's length.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from starlette.background import BackgroundTask

from portal.errors import Unsatisfiable
from storage.retrieval import AudioStream

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
MEDIA_TYPES = {"opus": "audio/ogg", "wav": "audio/wav"}
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive
    partial: bool

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> ByteRange:
    """The range to serve; a header we do not understand (or several ranges) means all of it."""
    whole = ByteRange(0, size - 1, False)
    if not header:
        return whole
    m = _RANGE.fullmatch(header.strip())
    if m is None:
        return whole  # RFC 9110: a recipient may ignore a Range it does not understand
    first, last = m.groups()
    if not first and not last:
        return whole
    if not first:  # a suffix: the last N bytes
        n = int(last)
        if n == 0:
            raise Unsatisfiable(f"range {header!r} asks for nothing of {size} bytes", size)
        return ByteRange(max(0, size - n), size - 1, True)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise Unsatisfiable(
            f"range {header!r} lies outside the {size} bytes of this recording", size
        )
    return ByteRange(start, end, True)


def body(audio: AudioStream, r: ByteRange) -> Iterator[bytes]:
    """Yield r.length bytes of `audio`, already opened at r.start (so a missing object is an
    error before the headers go out); the stream is closed however it ends. A response that
    never starts (the client left) closes it in its background task (`closing`)."""
    with audio:
        left = r.length
        while left > 0:
            chunk = audio.read(min(_CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk


def closing(audio: AudioStream) -> BackgroundTask:
    return BackgroundTask(audio.close)


def headers(r: ByteRange, size: int, fmt: str) -> dict[str, str]:
    h = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(r.length),
        "Cache-Control": "no-store",
        "Content-Type": MEDIA_TYPES.get(fmt, "application/octet-stream"),
    }
    if r.partial:
        h["Content-Range"] = f"bytes {r.start}-{r.end}/{size}"
    return h
