"""Readiness: can this process do its work now? Each check names what failed."""

from __future__ import annotations

import os
import uuid

from callvault.wiring import Services


def _spool_writable(svc: Services) -> None:
    """Write, fsync and remove a file in the spool (a full or read-only disk fails here)."""
    svc.spool.ensure()
    probe = svc.spool.root / f".ready-{uuid.uuid4().hex}"
    fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        os.write(fd, b"ready")
        os.fsync(fd)
    finally:
        os.close(fd)
        probe.unlink(missing_ok=True)


def _keys(svc: Services) -> None:
    svc.hasher  # noqa: B018 - loads the caller-hash key (raises when it is missing)
    if svc.settings.keys.mode in ("local", "hpke") and not svc.envelope.active.list_keks():
        raise FileNotFoundError(f"no {svc.settings.keys.mode} key-encryption key")


def readiness(svc: Services) -> dict[str, str]:
    """{"catalogue"|"store"|"keys"|"spool": "ok" or the failing error's class name}.

    Only the class: /readyz is open, and messages can carry host names and paths."""
    checks: dict[str, str] = {}
    for name, probe in (
        ("catalogue", svc.catalogue.require_current),
        ("store", svc.store.check),
        ("keys", lambda: _keys(svc)),
        ("spool", lambda: _spool_writable(svc)),
    ):
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = type(exc).__name__
    return checks
