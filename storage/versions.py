"""A recording's stored version: what it is now, and the switch to another (its compact form).

The switch is the commit of a compression: format, sizes, both checksums and the object key
change together with the audit event, so retrieval always verifies the version it reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import Recording
from storage.crypto import EncryptResult
from storage.errors import StorageError


@dataclass(frozen=True)
class Current:
    state: str
    format: str
    object_key: str
    kek_id: str | None
    wrapped: bytes | None
    sha_plain: str
    sha_cipher: str


def current(catalogue: Catalogue, recording_id: str) -> Current | None:
    with catalogue.session() as s:
        rec = s.get(Recording, recording_id)
        if rec is None:
            return None
        key = rec.key
        return Current(
            rec.state,
            rec.format,
            rec.object_key,
            key.kek_id if key else None,
            key.wrapped_keyset if key else None,
            rec.sha256_plaintext,
            rec.sha256_ciphertext,
        )


def switch(
    s: Session,
    audit: AuditLog,
    recording_id: str,
    was: Current,
    *,
    fmt: str,
    object_key: str,
    result: EncryptResult,
    worker: str,
) -> bool:
    """Make the new object the recording's version; False when it is no longer stored."""
    rec = s.scalar(select(Recording).where(Recording.id == recording_id).with_for_update())
    if rec is None or rec.state != "stored":
        return False
    if rec.object_key != was.object_key or rec.sha256_ciphertext != was.sha_cipher:
        raise StorageError(f"recording {rec.id}: changed while it was being compressed")
    details: dict[str, Any] = {
        "from_format": rec.format,
        "to_format": fmt,
        "from_object_key": rec.object_key,
        "object_key": object_key,
        "from_stored_bytes": rec.stored_bytes,
        "stored_bytes": result.ciphertext_bytes,
        "sha256_plaintext": result.sha256_plaintext,
        "sha256_ciphertext": result.sha256_ciphertext,
        "worker": worker,
    }
    rec.format = fmt
    rec.plaintext_bytes = result.plaintext_bytes
    rec.stored_bytes = result.ciphertext_bytes
    rec.sha256_plaintext = result.sha256_plaintext
    rec.sha256_ciphertext = result.sha256_ciphertext
    rec.object_key = object_key
    audit.append(
        s,
        actor="compression-worker",
        action="recording.compress",
        recording_id=rec.id,
        details=details,
    )
    return True
