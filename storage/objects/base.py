"""The object-store port. Keys never carry personal data: recordings/YYYY/MM/DD/<recording-id>."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str | None  # of the stored (encrypted) bytes, when the store kept it
    version_id: str | None = None


def object_key(recording_id: str, started_at: datetime) -> str:
    return f"recordings/{started_at:%Y/%m/%d}/{recording_id}"


class ObjectStore(abc.ABC):
    """Puts, streams and destroys opaque (already encrypted) objects."""

    name: str

    @abc.abstractmethod
    def check(self) -> None:
        """Raise ObjectStoreUnavailable / StorageError unless the store is usable."""

    @abc.abstractmethod
    def put_file(self, key: str, path: Path, sha256: str) -> StoredObject:
        """Store the file under key; idempotent when the same bytes are already there."""

    @abc.abstractmethod
    def head(self, key: str) -> StoredObject | None:
        """The current version's size and checksum, or None when absent."""

    @abc.abstractmethod
    def open(self, key: str, start: int = 0, length: int | None = None) -> BinaryIO:
        """A streaming reader of the current version (from byte `start`, at most `length`
        bytes); the caller closes it."""

    @abc.abstractmethod
    def versions(self, key: str) -> list[str]:
        """Every stored version (and delete marker) of key."""

    @abc.abstractmethod
    def destroy(self, keys: list[str]) -> dict[str, int]:
        """Remove every version of every key; returns versions removed per key."""

    @abc.abstractmethod
    def put_bytes(self, key: str, data: bytes, *, retain_until: datetime | None = None) -> None:
        """Store a small object (an audit anchor); locked until retain_until where the store
        supports it (S3 Object Lock), else kept read-only."""

    @abc.abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """A small object's bytes (NotFoundError when absent)."""

    @abc.abstractmethod
    def list_keys(self, prefix: str) -> list[str]:
        """Keys under prefix, sorted."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections the store opened itself."""
