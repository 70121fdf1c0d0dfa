"""Crash-safe file helpers: write to a temp file, fsync, rename, fsync the directory."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_writer(dest: Path) -> Iterator[BinaryIO]:
    """Yield a binary file; on success it is fsync'd and renamed over dest, else removed."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(dest: Path, data: bytes) -> None:
    with atomic_writer(dest) as fh:
        fh.write(data)


def durable_copy(src: Path, dest: Path) -> None:
    with open(src, "rb") as s, atomic_writer(dest) as d:
        shutil.copyfileobj(s, d, 1 << 20)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
