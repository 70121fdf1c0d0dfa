"""The compressing pipe: stored object → decrypt → ffmpeg → encrypt → a ciphertext file.

The plaintext exists only in memory and in the pipes to and from ffmpeg; what reaches the disk
(a private file in the spool, uploaded next) is already encrypted under the recording's own
data key. Both checksums of the source are verified as it streams.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from pathlib import Path
from typing import IO, BinaryIO

import tink

from storage.audio import AudioTools
from storage.crypto import CHUNK, DataKey, EncryptResult, raise_integrity
from storage.errors import ObjectStoreUnavailable, StorageError
from storage.objects.base import ObjectStore


def compress_object(
    store: ObjectStore,
    audio: AudioTools,
    data_key: DataKey,
    object_key: str,
    fmt: str,
    part: Path,
    *,
    sums: tuple[str, str],
) -> EncryptResult:
    """Write the object's audio, compressed to fmt and encrypted, into part (fsync'd).

    sums are the catalogue's SHA-256 of the source's plaintext and ciphertext."""
    rid = data_key.recording_id
    source = store.open(object_key)
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finally
    try:
        proc = audio.compressor(fmt, errors)
    except BaseException:
        errors.close()
        source.close()
        raise
    if proc.stdin is None or proc.stdout is None:  # pragma: no cover - PIPE was asked for
        raise StorageError("ffmpeg was started without pipes")
    feed = _Feeder(data_key, source, proc.stdin)
    try:
        feed.start()
        with open(part, "wb") as out:
            result = data_key.encrypt_stream(proc.stdout, out)
            out.flush()
            os.fsync(out.fileno())
        feed.join()
        code = proc.wait()
        if feed.error is not None:
            raise feed.error
        if (feed.sha_plain, feed.sha_cipher) != sums:
            raise raise_integrity(rid)
        if code != 0:
            errors.seek(0)
            detail = errors.read().decode(errors="replace").strip()[-300:]
            raise StorageError(f"recording {rid}: ffmpeg could not compress to {fmt}: {detail}")
        return result
    finally:
        if proc.poll() is None:  # failed part-way: stop ffmpeg (the feeder then stops too)
            proc.kill()
            proc.wait()
        if feed.is_alive():
            feed.join(30)
        for pipe in (proc.stdout, proc.stdin):
            with contextlib.suppress(OSError):
                pipe.close()
        errors.close()
        source.close()


class _Feeder(threading.Thread):
    """Decrypts the stored object into ffmpeg's stdin on its own thread, hashing both sides
    (ffmpeg's stdout is read meanwhile, so neither pipe can fill up and stall the other)."""

    def __init__(self, data_key: DataKey, source: BinaryIO, sink: IO[bytes]) -> None:
        super().__init__(name="compress-feed", daemon=True)
        self._key, self._source, self._sink = data_key, source, sink
        self.error: Exception | None = None
        self.sha_plain = self.sha_cipher = ""

    def run(self) -> None:
        plain = hashlib.sha256()
        try:
            reader, tap = self._key.decrypt_stream(self._source)
            while chunk := reader.read(CHUNK):
                plain.update(chunk)
                self._sink.write(chunk)
            self.sha_plain, self.sha_cipher = plain.hexdigest(), tap.sha256.hexdigest()
        except tink.TinkError:
            self.error = raise_integrity(self._key.recording_id)
        except BrokenPipeError:
            self.error = StorageError(f"recording {self._key.recording_id}: ffmpeg stopped early")
        except StorageError as exc:
            self.error = exc
        except Exception as exc:  # the store's stream failed part-way: an outage, retried
            self.error = ObjectStoreUnavailable(
                f"recording {self._key.recording_id}: reading the stored object failed "
                f"part-way ({type(exc).__name__}: {exc})"
            )
        finally:
            with contextlib.suppress(OSError):
                self._sink.close()
