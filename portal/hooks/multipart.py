"""The upload's multipart/form-data body, streamed: the `audio` part goes straight to a file
(written in chunks off the event loop, fsync'd), the `manifest` part (JSON, small) to memory.
Nothing is buffered whole, so memory stays flat for a 2-hour WAV.

The parsing itself is python-multipart's streaming parser (the one Starlette uses); we only
route its callbacks. The fingerprint for Idempotency-Key is over what the parts hold, not the
raw body, because clients choose a new random boundary on every retry.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import anyio
from python_multipart.multipart import MultipartParser, parse_options_header

from portal import errors
from portal.errors import BadInput, PortalError, Unprocessable

MAX_MANIFEST = 64 * 1024
CHUNK_FLUSH = 1 << 20  # hand writes to a thread in ~1 MiB batches


class TooLarge(errors.TooLarge):
    title = "Upload too large"


class BadUpload(Unprocessable):
    title = "Unprocessable upload"


@dataclass
class Parts:
    manifest: bytes = b""
    audio_bytes: int = 0
    audio_name: str | None = None
    audio_type: str | None = None
    fingerprint: str = ""
    seen: list[str] = field(default_factory=list)


class _Router:
    """python-multipart callbacks → a manifest buffer and an audio file (or only a hash)."""

    def __init__(self, audio_path: Path | None) -> None:
        self.audio_path = audio_path
        self.parts = Parts()
        self._file: IO[bytes] | None = None
        self._pending = bytearray()
        self._name: str | None = None
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._audio_hash = hashlib.sha256()
        self._manifest = bytearray()

    # header callbacks
    def on_part_begin(self) -> None:
        self._headers, self._name = {}, None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def on_headers_finished(self) -> None:
        _, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        if name in self.parts.seen:
            raise BadUpload(f"part {name!r} appears twice")
        self.parts.seen.append(name)
        self._name = name
        if name == "audio":
            filename = opts.get(b"filename")
            self.parts.audio_name = filename.decode("utf-8", "replace") if filename else None
            ctype = self._headers.get(b"content-type")
            self.parts.audio_type = ctype.decode("latin-1") if ctype else None
            if self.audio_path is not None:
                fd = os.open(self.audio_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                self._file = os.fdopen(fd, "wb")
        elif name != "manifest":
            raise BadUpload(f"unknown part {name!r}: the parts are `manifest` and `audio`")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._name == "manifest":
            if len(self._manifest) + len(chunk) > MAX_MANIFEST:
                raise BadUpload(f"the manifest part is larger than {MAX_MANIFEST} bytes")
            self._manifest += chunk
        elif self._name == "audio":
            self._audio_hash.update(chunk)
            self.parts.audio_bytes += len(chunk)
            if self._file is not None:
                self._pending += chunk

    def on_part_end(self) -> None:
        pass

    def take_pending(self) -> bytes:
        out = bytes(self._pending)
        self._pending.clear()
        return out

    def finish(self) -> Parts:
        self.parts.manifest = bytes(self._manifest)
        h = hashlib.sha256(b"manifest\0" + hashlib.sha256(self.parts.manifest).digest())
        h.update(b"audio\0" + self._audio_hash.digest())
        self.parts.fingerprint = h.hexdigest()
        return self.parts


def boundary_of(content_type: str) -> bytes:
    ctype, opts = parse_options_header(content_type)
    if ctype != b"multipart/form-data" or not opts.get(b"boundary"):
        raise BadInput("the upload must be multipart/form-data with parts `manifest` and `audio`")
    return opts[b"boundary"]


async def receive(
    body: AsyncIterator[bytes], content_type: str, audio_path: Path | None, max_bytes: int
) -> Parts:
    """Stream the body through the parser; the audio file (if any) is fsync'd on return."""
    router = _Router(audio_path)
    callbacks = {
        name: getattr(router, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }
    parser = MultipartParser(boundary_of(content_type), callbacks)  # type: ignore[arg-type]
    total = 0
    try:
        async for chunk in body:
            total += len(chunk)
            if total > max_bytes:
                raise TooLarge(f"the upload is larger than the limit of {max_bytes} bytes")
            try:
                parser.write(chunk)
            except PortalError:
                raise
            except Exception as exc:  # python-multipart's parse errors
                raise BadInput(f"malformed multipart body: {exc}") from None
            if router._file is not None and len(router._pending) >= CHUNK_FLUSH:
                await anyio.to_thread.run_sync(router._file.write, router.take_pending())
        parser.finalize()
        if router._file is not None:
            f = router._file
            await anyio.to_thread.run_sync(_flush_sync, f, router.take_pending())
    finally:
        if router._file is not None:
            router._file.close()
    parts = router.finish()
    for needed in ("manifest", "audio"):
        if needed not in parts.seen:
            raise BadInput(f"the upload has no `{needed}` part")
    return parts


def _flush_sync(f: IO[bytes], rest: bytes) -> None:
    f.write(rest)
    f.flush()
    os.fsync(f.fileno())
