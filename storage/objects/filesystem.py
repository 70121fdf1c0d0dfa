"""A local directory as an object store (the embedded default)."""

from __future__ import annotations

import io
import os
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from storage.errors import NotFoundError, StorageError
from storage.fsutil import atomic_writer, fsync_dir, private_dir
from storage.objects.base import ObjectStore, StoredObject


class FilesystemStore(ObjectStore):
    """Objects are files under root; the checksum sits beside each in `<name>.sha256`."""

    name = "filesystem"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()) or key.endswith(".sha256"):
            raise StorageError(f"object key {key!r} is not allowed in the filesystem store")
        return path

    def check(self) -> None:
        private_dir(self.root)
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"object store directory {self.root} is not writable")

    def put_file(self, key: str, path: Path, sha256: str) -> StoredObject:
        existing = self.head(key)
        if existing and existing.sha256 == sha256:
            return existing
        dest = self._path(key)
        with open(path, "rb") as src, atomic_writer(dest) as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        with atomic_writer(dest.with_name(dest.name + ".sha256")) as out:
            out.write(sha256.encode())
        return StoredObject(key, dest.stat().st_size, sha256)

    def head(self, key: str) -> StoredObject | None:
        path = self._path(key)
        if not path.is_file():
            return None
        side = path.with_name(path.name + ".sha256")
        sha = side.read_text().strip() if side.is_file() else None
        return StoredObject(key, path.stat().st_size, sha)

    def open(self, key: str, start: int = 0, length: int | None = None) -> BinaryIO:
        try:
            fh = open(self._path(key), "rb")  # noqa: SIM115 - the caller closes it
        except FileNotFoundError:
            raise NotFoundError(
                f"object {key} is not in the filesystem store {self.root}"
            ) from None
        fh.seek(start)
        if length is None:
            return fh
        try:
            return io.BytesIO(fh.read(length))
        finally:
            fh.close()

    def versions(self, key: str) -> list[str]:
        return ["current"] if self._path(key).is_file() else []

    def destroy(self, keys: list[str]) -> dict[str, int]:
        removed: dict[str, int] = {}
        for key in keys:
            path = self._path(key)
            n = 0
            for p in (path, path.with_name(path.name + ".sha256")):
                if p.exists():
                    p.unlink()
                    n += p is path
            removed[key] = n
            if path.parent.exists():
                fsync_dir(path.parent)
        return removed

    def put_bytes(self, key: str, data: bytes, *, retain_until: datetime | None = None) -> None:
        dest = self._path(key)
        if dest.exists():
            raise StorageError(f"object {key} already exists; small objects are write-once")
        with atomic_writer(dest) as out:
            out.write(data)
        os.chmod(dest, 0o400)  # no object lock here: read-only is the most a directory offers

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(
                f"object {key} is not in the filesystem store {self.root}"
            ) from None

    def list_keys(self, prefix: str) -> list[str]:
        root = self.root.resolve()
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else root
        if not base.is_dir():
            return []
        return sorted(
            str(p.relative_to(root))
            for p in base.rglob("*")
            if p.is_file() and not p.name.endswith(".sha256") and not p.name.startswith(".")
        )
