"""Where jobs go that cannot be stored: `spool/rejected/` (the audio itself is unusable) and
`spool/quarantine/` (anything else: bad metadata in a manifest, an unusable caller field…).

Nothing lies there in clear (docs/adr/0003-sealed-quarantine.md): every file of the job is
encrypted with Tink's streaming AEAD under its own fresh data key, wrapped by the configured
key-encryption key exactly as a recording's key is (in hpke mode a recorder can seal but not
open). `index.json` beside the sealed files holds no personal data: the job ID, when, the area,
the kind of failure and, for our own validation and audio messages (which never quote the
value), the reason. `restore()` puts a job back into the spool once the cause is fixed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from storage.clock import utcnow
from storage.crypto import Envelope
from storage.errors import RejectedAudioError, StorageError
from storage.fields import FieldError
from storage.fsutil import atomic_write_bytes, atomic_writer, fsync_dir, private_dir

AREAS = ("rejected", "quarantine")
INDEX = "index.json"


class Quarantine:
    """Seals a job directory into one of the AREAS of the spool and opens it again."""

    def __init__(
        self, spool_root: Path, envelope: Envelope, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.root = spool_root
        self.envelope = envelope
        self.clock = clock

    def area(self, name: str) -> Path:
        if name not in AREAS:
            raise StorageError(f"quarantine area {name!r}; allowed: {', '.join(AREAS)}")
        return self.root / name

    def put(self, src: Path, job_id: str, error: Exception | str, *, area: str) -> Path:
        """Seal every file of src into <area>/<job_id>/, then remove src (the plaintext)."""
        dest_root = private_dir(self.area(area))
        staging = dest_root / f".{job_id}.part"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(mode=0o700)
        reason = str(error)
        sealed: list[dict[str, str]] = []
        names = [
            p.name
            for p in sorted(src.iterdir())
            if p.is_file() and p.name not in (".lock", "reason.txt")
        ]
        atomic_write_bytes(staging / "reason.txt", (reason + "\n").encode())
        for name, path in [(n, src / n) for n in names] + [("reason.txt", staging / "reason.txt")]:
            key, kek_id, wrapped = self.envelope.new_data_key(_ad(job_id, area, name))
            with atomic_writer(staging / f"{name}.enc") as out:
                key.encrypt_file(path, out)
            sealed.append(
                {
                    "name": name,
                    "kek_id": kek_id,
                    "wrapped_keyset": base64.b64encode(wrapped).decode(),
                }
            )
        (staging / "reason.txt").unlink()
        index = {
            "id": job_id,
            "area": area,
            "at": self.clock().isoformat(),
            "kind": type(error).__name__ if isinstance(error, Exception) else "error",
            # Our own validation and audio messages never quote the value; others might.
            "reason": reason if _quotes_no_value(error) else "sealed in reason.txt.enc",
            "files": sealed,
        }
        atomic_write_bytes(staging / INDEX, json.dumps(index, indent=2).encode())
        fsync_dir(staging)
        dest = dest_root / job_id
        if dest.exists():  # a legacy entry sealed in place, or an attempt that crashed
            shutil.rmtree(dest)  # before removing src: its sealed copy is in staging now
        os.replace(staging, dest)
        fsync_dir(dest_root)
        if src.exists():
            shutil.rmtree(src)
            fsync_dir(src.parent)
        return dest

    def entries(self, area: str) -> list[dict[str, Any]]:
        root = self.area(area)
        if not root.is_dir():
            return []
        return [
            json.loads((p / INDEX).read_text())
            for p in sorted(root.iterdir())
            if (p / INDEX).is_file()
        ]

    def open_file(self, area: str, job_id: str, name: str, dest: Path) -> None:
        """Decrypt one sealed file to dest (needs a node that can unwrap the KEK)."""
        entry = self.area(area) / job_id
        index = json.loads((entry / INDEX).read_text())
        item = next((f for f in index["files"] if f["name"] == name), None)
        if item is None:
            raise StorageError(f"{area} job {job_id} has no file {name}")
        key = self.envelope.open_data_key(
            _ad(job_id, area, name), item["kek_id"], base64.b64decode(item["wrapped_keyset"])
        )
        with open(entry / f"{name}.enc", "rb") as src, atomic_writer(dest) as out:
            reader, _ = key.decrypt_stream(src)
            while chunk := reader.read(1 << 20):
                out.write(chunk)

    def restore(self, area: str, job_id: str, jobs_dir: Path) -> Path:
        """Decrypt a sealed job back into the spool's jobs/ so `ingest --resume` retries it."""
        entry = self.area(area) / job_id
        if not (entry / INDEX).is_file():
            raise StorageError(f"no {area} job {job_id} in {self.area(area)}")
        index = json.loads((entry / INDEX).read_text())
        staging = private_dir(self.root / "incoming") / job_id
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(mode=0o700)
        for item in index["files"]:
            if item["name"] != "reason.txt":
                self.open_file(area, job_id, item["name"], staging / item["name"])
        fsync_dir(staging)
        final = private_dir(jobs_dir) / job_id
        os.replace(staging, final)
        fsync_dir(jobs_dir)
        shutil.rmtree(entry)
        return final

    def seal_legacy(self) -> list[str]:
        """Seal entries that older versions left in clear (no index.json); returns their IDs."""
        done = []
        for area in AREAS:
            root = self.area(area)
            for p in sorted(root.iterdir()) if root.is_dir() else []:
                if p.is_dir() and not p.name.startswith(".") and not (p / INDEX).is_file():
                    why = p / "reason.txt"
                    reason = why.read_text().strip() if why.is_file() else "unknown (legacy)"
                    self.put(p, p.name, reason, area=area)
                    done.append(p.name)
        return done


def _ad(job_id: str, area: str, name: str) -> str:
    return f"{job_id}/{area}/{name}"


def _quotes_no_value(error: Exception | str) -> bool:
    return isinstance(error, FieldError | RejectedAudioError)
