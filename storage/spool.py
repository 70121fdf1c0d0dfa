"""The local spool: the durability boundary. A job is a directory holding the audio and a JSON
manifest; every change to the manifest is written atomically (temp, fsync, rename)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage.errors import StorageError
from storage.fsutil import atomic_write_bytes, durable_copy, fsync_dir, private_dir, try_flock

STATES = ("spooled", "probed", "transcoded", "encrypted", "uploaded")


@dataclass
class Job:
    """A job directory and its manifest (a plain dict persisted as JSON)."""

    path: Path
    manifest: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.manifest["recording_id"])

    @property
    def state(self) -> str:
        return str(self.manifest["state"])

    def file(self, name: str) -> Path:
        return self.path / name

    def save(self) -> None:
        data = json.dumps(self.manifest, indent=2, sort_keys=True).encode()
        atomic_write_bytes(self.path / "manifest.json", data)


class Spool:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.jobs_dir = root / "jobs"
        self.rejected_dir = root / "rejected"  # sealed: storage/quarantine.py
        self.quarantine_dir = root / "quarantine"
        self.calls_dir = root / "calls"  # live calls' legs, written by the SIP agent
        self._incoming = root / "incoming"

    def ensure(self) -> None:
        """The spool's directories, owner-only (0700) even when an older version made them."""
        private_dir(self.root)
        os.chmod(self.root, 0o700)
        dirs = (
            self.jobs_dir,
            self.rejected_dir,
            self.quarantine_dir,
            self._incoming,
            self.calls_dir,
        )
        for d in dirs:
            private_dir(d)
            os.chmod(d, 0o700)

    def create(
        self, recording_id: str, source: Path, manifest: dict[str, Any], *, move: bool = False
    ) -> Job:
        """Make the job durable: audio and manifest fsync'd in a staging dir, then renamed in.

        Idempotent per recording ID: a job that already exists is returned as it is.
        """
        self.ensure()
        if (self.jobs_dir / recording_id / "manifest.json").is_file():
            return self.load(recording_id)
        staging = self._incoming / recording_id
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(mode=0o700)
        name = "source" + (source.suffix.lower() or ".bin")
        try:
            if move:
                os.replace(source, staging / name)
                os.chmod(staging / name, 0o600)
            else:
                durable_copy(source, staging / name)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise StorageError(f"cannot copy {source} into the spool {self.root}: {exc}") from exc
        job = Job(
            staging, {**manifest, "recording_id": recording_id, "state": "spooled", "source": name}
        )
        job.save()
        fsync_dir(staging)
        final = self.jobs_dir / recording_id
        os.replace(staging, final)
        fsync_dir(self.jobs_dir)
        job.path = final
        return job

    def load(self, recording_id: str) -> Job:
        path = self.jobs_dir / recording_id
        try:
            manifest = json.loads((path / "manifest.json").read_text())
        except FileNotFoundError:
            raise StorageError(f"no job {recording_id} in the spool {self.jobs_dir}") from None
        except json.JSONDecodeError as exc:
            raise StorageError(f"job {recording_id}: manifest is not valid JSON ({exc})") from exc
        return Job(path, manifest)

    def pending(self) -> list[str]:
        if not self.jobs_dir.is_dir():
            return []
        dirs = [p for p in self.jobs_dir.iterdir() if (p / "manifest.json").is_file()]
        return [p.name for p in sorted(dirs, key=lambda p: p.stat().st_mtime)]

    @contextmanager
    def lock(self, recording_id: str) -> Iterator[bool]:
        """Non-blocking per-job lock (released by the kernel if the process dies)."""
        with try_flock(self.jobs_dir / recording_id / ".lock") as held:
            yield held

    def finish(self, job: Job) -> None:
        shutil.rmtree(job.path)
        fsync_dir(self.jobs_dir)
