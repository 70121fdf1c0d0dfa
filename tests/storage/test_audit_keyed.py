"""Issue 8 item 7: the audit log proves what it claims — keyed chain, cross-check with the
catalogue, anchors in the object store that expose a cut tail."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sqlalchemy import delete, select, update

from callvault.wiring import Services, audit_key_path
from storage.audit import AuditLog, canonical_json, verify_chain
from storage.catalogue.db import Catalogue
from storage.catalogue.models import AuditEvent
from storage.ingest import IngestRequest
from tests.conftest import Backend


def ingest(services: Services, path: Path, n: int) -> list[str]:
    pipeline = services.pipeline()
    return [pipeline.ingest(path, IngestRequest(f"c{i}"), actor="t").recording_id for i in range(n)]


def _sha_rechain(services: Services, from_seq: int) -> None:
    """What someone with write access to the database but not the key can do: edit a row and
    recompute every hash after it with the published rule."""
    with services.catalogue.session() as s:
        rows = list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        prev = rows[from_seq - 2].hash
        for ev in rows[from_seq - 1 :]:
            body = canonical_json(
                {
                    "seq": ev.seq,
                    "at": ev.at.isoformat(timespec="microseconds"),
                    "actor": "someone-else" if ev.seq == from_seq else ev.actor,
                    "action": ev.action,
                    "recording_id": ev.recording_id,
                    "details": ev.details,
                }
            )
            digest = hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()
            s.execute(
                update(AuditEvent)
                .where(AuditEvent.seq == ev.seq)
                .values(actor="someone-else" if ev.seq == from_seq else ev.actor, hash=digest,
                        prev_hash=prev)
            )  # fmt: skip
            prev = digest


def test_rewriting_the_chain_needs_the_key(
    backend: Backend, services: Services, speech_call: Path
) -> None:
    ingest(services, speech_call, 2)
    assert backend.cli("audit", "verify").returncode == 0
    assert audit_key_path(backend.settings).stat().st_mode & 0o077 == 0
    with services.catalogue.session() as s:
        last = s.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    _sha_rechain(services, int(last or 0))
    r = backend.cli("audit", "verify")
    assert r.returncode == 1 and "altered" in r.stderr and "Traceback" not in r.stderr


def test_an_empty_log_with_recordings_is_broken(
    backend: Backend, services: Services, speech_call: Path
) -> None:
    rids = ingest(services, speech_call, 2)
    with services.catalogue.session() as s:
        s.execute(delete(AuditEvent))
    r = backend.cli("audit", "verify")
    assert r.returncode == 1
    assert "2 recording(s) have no ingest event" in r.stderr and min(rids) in r.stderr
    assert "intact" not in r.stdout


def test_destruction_without_its_event_is_found(
    backend: Backend, services: Services, speech_call: Path
) -> None:
    (rid,) = ingest(services, speech_call, 1)
    with services.catalogue.session() as s:
        from storage.catalogue.models import Recording

        started = s.get(Recording, rid).started_at  # type: ignore[union-attr]
    from datetime import timedelta

    services.purger().run(now=started + timedelta(days=36500), actor="retention")
    assert backend.cli("audit", "verify").returncode == 0
    with services.catalogue.session() as s:
        s.execute(
            update(AuditEvent)
            .where(AuditEvent.action == "recording.destroy")
            .values(action="recording.tag")
        )
    r = backend.cli("audit", "verify")
    assert r.returncode == 1 and "destruction record(s) have no matching" in r.stderr


def test_anchors_expose_a_cut_tail(backend: Backend, services: Services, speech_call: Path) -> None:
    rids = ingest(services, speech_call, 2)
    backend.cli("recordings", "tag", rids[0], "--case-id", "C-9", check=True)  # the last row
    r = backend.cli("audit", "anchor", "--json", check=True)
    anchor = json.loads(r.stdout)
    assert anchor["key"].startswith("audit-anchors/")
    body = services.store.get_bytes(anchor["key"])
    assert set(json.loads(body)) == {"scheme", "seq", "head_hash", "at", "mac"}  # nothing else
    assert backend.cli("audit", "verify", "--anchors", check=True).returncode == 0
    from callvault.jobs import scheduled_anchor  # what `serve` runs on its schedule

    assert f"row {anchor['seq']}" in scheduled_anchor(str(backend.config))
    assert len(services.store.list_keys("audit-anchors/")) == 2
    with services.catalogue.session() as s:  # cut the last row off: the chain still links
        s.execute(delete(AuditEvent).where(AuditEvent.seq == anchor["seq"]))
    assert backend.cli("audit", "verify").returncode == 0  # undetectable from the chain alone
    r = backend.cli("audit", "verify", "--anchors")
    assert r.returncode == 1 and "tail was cut" in r.stderr, r.stderr


def test_an_unkeyed_chain_is_keyed_from_a_switch_over_row(tmp_path: Path) -> None:
    """A catalogue from before the key: its old rows keep the old rule, new ones are keyed."""
    from callvault.settings import load_settings
    from tests.conftest import write_config

    settings = load_settings(write_config(tmp_path), environ={})
    svc = Services.build(settings)
    try:
        svc.init()
        legacy = Catalogue(settings.database.url)  # no key: as the old code wrote
        with legacy.session() as s:
            s.execute(delete(AuditEvent))
            for i in range(3):
                AuditLog().append(s, actor="old", action="recording.tag", details={"i": i})
        legacy.close()
        with svc.catalogue.session() as s:
            assert AuditLog().ensure_keyed(s)  # what `callvault init` does on upgrade
            AuditLog().append(s, actor="new", action="recording.tag")
        with svc.catalogue.session() as s:
            rows = list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
            assert [r.action for r in rows][3] == "audit.keyed"
            assert verify_chain(s).ok
        with svc.catalogue.session() as s:  # an old row edited: still caught by the old rule
            s.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(actor="x"))
            res = verify_chain(s)
            assert not res.ok and res.first_bad_seq == 2
    finally:
        svc.close()
