"""Key files in a directory: `<name>.<suffix>` per KEK, and `current` naming the active one.

Files are written 0600 through the crash-safe helper; nothing here is ever logged.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from storage.errors import KeyUnavailableError
from storage.fsutil import atomic_write_bytes, private_dir


class KeyDirectory:
    def __init__(self, path: Path) -> None:
        self.path = path

    def new_name(self) -> str:
        return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"

    def current(self) -> str | None:
        marker = self.path / "current"
        return marker.read_text().strip() if marker.is_file() else None

    def set_current(self, name: str) -> None:
        atomic_write_bytes(self.path / "current", name.encode())

    def write(self, name: str, suffix: str, data: bytes) -> None:
        private_dir(self.path)
        dest = self.path / f"{name}.{suffix}"
        atomic_write_bytes(dest, data)
        os.chmod(dest, 0o600)

    def read(self, name: str, suffix: str) -> bytes | None:
        p = self.path / f"{name}.{suffix}"
        return p.read_bytes() if p.is_file() else None

    def names(self, suffix: str) -> list[str]:
        if not self.path.is_dir():
            return []
        return sorted(p.name[: -len(suffix) - 1] for p in self.path.glob(f"*.{suffix}"))

    def require_current(self, what: str) -> str:
        name = self.current()
        if name is None:
            raise KeyUnavailableError(
                f"no current {what} in {self.path}: run `callvault init` (or install the key)"
            )
        return name
