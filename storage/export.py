"""Writing decrypted audio out safely: a private temp file beside the target, released (renamed
into place) only when the caller says so, after the export's audit row is committed.

Never through a symlink, never onto a device, directory or anything but a regular file, never
over an existing file unless forced; the output is owner-only (0600) whatever the umask.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tink

from storage.audio import AudioTools
from storage.crypto import CHUNK, DataKey, raise_integrity
from storage.errors import StorageError
from storage.fsutil import create_private, fsync_dir, private_dir
from storage.objects.base import ObjectStore

EXPORT_FORMATS = ("wav", "opus")
_BY_SUFFIX = {".wav": "wav", ".ogg": "opus", ".opus": "opus"}


def format_for(out: Path, fmt: str | None) -> str:
    """The export format: --format when given, else from the file name (.wav, .ogg/.opus)."""
    if fmt is not None:
        if fmt not in EXPORT_FORMATS:
            raise StorageError(f"export format {fmt!r}; allowed: {', '.join(EXPORT_FORMATS)}")
        return fmt
    found = _BY_SUFFIX.get(out.suffix.lower())
    if found is None:
        raise StorageError(
            f"--out {out.name}: cannot tell the format from the name; end it in .wav, .ogg or "
            f".opus, or give --format ({', '.join(EXPORT_FORMATS)})"
        )
    return found


def _refuse_unless_replaceable(out: Path, force: bool) -> None:
    try:
        st = os.lstat(out)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise StorageError(f"--out {out} is a directory; give a file name")
    if not stat.S_ISREG(st.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
        raise StorageError(f"--out {out} is {kind}; an export never writes there")
    if not force:
        raise StorageError(f"--out {out} already exists; give --force to replace it")


class OutputFile:
    """The temp file lives in a 0700 directory made (exclusively) in the target's directory,
    so nobody can swap it for a link while ffmpeg or we write it."""

    def __init__(self, out: Path, *, force: bool = False) -> None:
        self.out = out
        self.force = force
        _refuse_unless_replaceable(out, force)
        private_dir(out.parent)
        try:
            self._dir = Path(tempfile.mkdtemp(prefix=".callvault-export-", dir=out.parent))
            self.tmp = self._dir / "part"
            os.close(create_private(self.tmp))
        except OSError as exc:
            raise StorageError(f"cannot write in {out.parent}: {exc.strerror}") from None

    def release(self) -> None:
        """Move the finished file into place (re-checking the target first)."""
        _refuse_unless_replaceable(self.out, self.force)
        try:
            if self.force:
                os.replace(self.tmp, self.out)  # replaces a link itself, never its target
            else:
                try:
                    os.link(self.tmp, self.out)  # fails if anything appeared at out meanwhile
                except OSError as exc:
                    if exc.errno == errno.EEXIST:
                        raise StorageError(f"--out {self.out} already exists") from None
                    if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
                        raise
                    os.rename(self.tmp, self.out)  # a filesystem without hard links
            fsync_dir(self.out.parent)
        except OSError as exc:
            raise StorageError(f"cannot write {self.out}: {exc.strerror}") from None
        finally:
            self.discard()

    def discard(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


@dataclass(frozen=True)
class Decrypted:
    bytes_written: int
    sha256: str


def decrypt_to(
    output: OutputFile,
    *,
    rid: str,
    data_key: DataKey,
    store: ObjectStore,
    object_key: str,
    sha_plain: str,
    sha_cipher: str,
    stored_fmt: str,
    fmt: str,
    rate: int,
    audio: AudioTools,
) -> Decrypted:
    """Stream-decrypt the object into output.tmp (through ffmpeg when the format changes),
    verifying both checksums; nothing is released here."""
    tmp = output.tmp
    plain = hashlib.sha256()
    source = store.open(object_key)
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finally
    proc: subprocess.Popen[bytes] | None = None
    sink: Any = None
    try:
        if fmt == stored_fmt:
            sink = open(tmp, "wb")  # noqa: SIM115 - the private file made above; closed below
        else:  # ffmpeg writes tmp itself, so the WAV header gets its sizes
            proc = audio.decoder(fmt, rate, tmp, errors)
            sink = proc.stdin
        reader, tap = data_key.decrypt_stream(source)
        try:
            while chunk := reader.read(CHUNK):
                plain.update(chunk)
                sink.write(chunk)
        except tink.TinkError:
            raise raise_integrity(rid) from None
        except (StorageError, OSError):
            raise
        except Exception as exc:  # the store's client failed mid-stream (e.g. object deleted)
            raise StorageError(
                f"recording {rid}: reading the stored object failed ({type(exc).__name__})"
            ) from None
        # Everything was read: the ciphertext and plaintext checksums must both match.
        if tap.sha256.hexdigest() != sha_cipher or plain.hexdigest() != sha_plain:
            raise raise_integrity(rid)
        sink.close()
        if proc is not None and proc.wait() != 0:
            errors.seek(0)
            detail = errors.read().decode(errors="replace").strip()[-300:]
            raise StorageError(f"recording {rid}: ffmpeg could not convert to {fmt}: {detail}")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
            fh.seek(0)
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        os.chmod(tmp, 0o600)
        return Decrypted(tmp.stat().st_size, digest)
    except BrokenPipeError:
        errors.seek(0)
        detail = errors.read().decode(errors="replace").strip()[-300:]
        raise StorageError(f"recording {rid}: ffmpeg stopped early: {detail}") from None
    except OSError as exc:
        raise StorageError(f"cannot write {output.out}: {exc}") from exc
    finally:
        if sink is not None and not sink.closed:
            with contextlib.suppress(BrokenPipeError):
                sink.close()
        if proc is not None and proc.poll() is None:  # failed part-way: stop ffmpeg
            proc.kill()
            proc.wait()
        errors.close()
        source.close()
