"""A recording's audio decrypted as it is read from the object store, and seeking into it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import BinaryIO

import tink

from storage import parts
from storage.crypto import CHUNK, DataKey, raise_integrity
from storage.objects.base import ObjectStore


class AudioStream:
    """Decrypted audio read straight from the object store, never written to disk.

    Tink authenticates every segment as it is read, so a partial read (an HTTP Range) is as
    trustworthy as a whole one; the whole-file checksums are checked by `export`.
    """

    def __init__(
        self, recording_id: str, fmt: str, length: int, reader: BinaryIO, source: BinaryIO
    ) -> None:
        self.recording_id = recording_id
        self.format = fmt
        self.length = length  # plaintext bytes, from the catalogue
        self._reader = reader
        self._source = source

    def read(self, n: int = CHUNK) -> bytes:
        try:
            return self._reader.read(n) or b""
        except tink.TinkError:
            raise raise_integrity(self.recording_id) from None

    def skip(self, n: int) -> None:
        """Decrypt and discard n bytes (Tink's Python streams cannot seek)."""
        while n > 0:
            chunk = self.read(min(n, CHUNK))
            if not chunk:
                return
            n -= len(chunk)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._reader.close()
        self._source.close()

    def __enter__(self) -> AudioStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class AudioVersion:
    """One stored version of a recording's audio: a reader that pins it keeps reading the same
    bytes (format and length) while a worker replaces the WAV by its compact form."""

    object_key: str
    format: str
    length: int


def open_stream(
    store: ObjectStore,
    object_key: str,
    data_key: DataKey,
    *,
    recording_id: str,
    fmt: str,
    length: int,
    start: int = 0,
) -> AudioStream:
    """The audio of `object_key` from plaintext byte `start`. A parted object (storage/parts.py)
    is fetched from the part that holds `start`; an older single-stream object is decrypted
    from its beginning."""
    layout = None
    if start > 0:
        with contextlib.closing(store.open(object_key, 0, parts.HEADER.size)) as head:
            layout = parts.parse_header(parts.read_exact(head, parts.HEADER.size))
    if layout is not None:
        first = layout.part_of(start)
        source = store.open(object_key, layout.cipher_offset(first))
        start -= first * layout.part
    else:
        source = store.open(object_key)
    try:
        if layout is not None:
            reader = data_key.decrypt_from(source, layout, first)
        else:
            reader, _tap = data_key.decrypt_stream(source)
    except BaseException:
        source.close()
        raise
    audio = AudioStream(recording_id, fmt, length, reader, source)
    try:
        audio.skip(start)
    except BaseException:
        audio.close()
        raise
    return audio
