"""The package handed to a disclosure's recipient: a zip streamed chunk by chunk.

It holds each recording's audio as stored (decrypted through storage.retrieval's audio stream,
its SHA-256 checked against the catalogue as it passes), a `manifest.json` naming the
disclosure (who, to whom, why, on what basis) and every file with its size and SHA-256, and a
`SHA256SUMS` file that `sha256sum -c` checks. The checksums are known before the first byte
(they are the catalogue's), so the manifest, and the register's record of it, can be written
before anything leaves; memory stays flat whatever the recordings' size, and no decrypted
audio is written anywhere but the zip itself.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.crypto import raise_integrity
from storage.retrieval import AudioStream

CHUNK = 256 * 1024
EXTENSIONS = {"opus": "ogg", "wav": "wav"}


@dataclass(frozen=True)
class Entry:
    """One recording in the package: where it goes and what it must hash to."""

    recording_id: str
    file_name: str
    format: str
    bytes: int
    sha256: str
    started_at: str
    duration_s: float
    service: str | None
    case_ids: list[str]

    def manifest_item(self) -> dict[str, Any]:
        return {
            "recording_id": self.recording_id,
            "file": self.file_name,
            "format": self.format,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "service": self.service,
            "case_ids": self.case_ids,
        }


def file_name(recording_id: str, fmt: str) -> str:
    return f"recordings/{recording_id}.{EXTENSIONS.get(fmt, fmt)}"


def manifest_bytes(disclosure: dict[str, Any], entries: list[Entry]) -> bytes:
    doc = {
        "disclosure": disclosure,
        "files": [e.manifest_item() for e in entries],
        "note": "Each file's SHA-256 is listed here and in SHA256SUMS (check: sha256sum -c "
        "SHA256SUMS). The audio is as stored: Ogg/Opus (.ogg) or WAV, caller left, staff right.",
    }
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


def sums_bytes(entries: list[Entry], manifest: bytes) -> bytes:
    lines = [f"{e.sha256}  {e.file_name}" for e in entries]
    lines.append(f"{hashlib.sha256(manifest).hexdigest()}  manifest.json")
    return ("\n".join(lines) + "\n").encode()


class _Sink:
    """A write-only stream for zipfile (no tell or seek: sizes go in data descriptors)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, b: bytes, /) -> int:
        self._parts.append(bytes(b))
        return len(b)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def drain(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def stream(
    entries: list[Entry],
    manifest: bytes,
    open_audio: Callable[[str], AudioStream],
    at: datetime,
) -> Iterator[bytes]:
    """The zip, in chunks. A file whose bytes do not hash to the catalogue's SHA-256 stops
    the stream with an integrity error (the package is then incomplete, never wrong)."""
    sink = _Sink()
    stamp = at.timetuple()[:6]
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as zf:
        for e in entries:
            info = zipfile.ZipInfo(e.file_name, stamp)
            info.file_size = e.bytes
            digest, n = hashlib.sha256(), 0
            with zf.open(info, "w") as member, open_audio(e.recording_id) as audio:
                while chunk := audio.read(CHUNK):
                    digest.update(chunk)
                    n += len(chunk)
                    member.write(chunk)
                    yield sink.drain()
                if n != e.bytes or digest.hexdigest() != e.sha256:
                    raise raise_integrity(e.recording_id)
            yield sink.drain()
        zf.writestr(zipfile.ZipInfo("manifest.json", stamp), manifest)
        zf.writestr(zipfile.ZipInfo("SHA256SUMS", stamp), sums_bytes(entries, manifest))
    yield sink.drain()
