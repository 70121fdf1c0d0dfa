"""Re-hashing callers stored before E.164: from the sealed numbers; idempotent; audited."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from callvault.wiring import Services, caller_hash_path
from storage.catalogue.models import AuditEvent, DoNotRecordEntry, Recording
from storage.ingest import IngestRequest
from storage.rehash import rehash_callers
from storage.retrieval import ListFilter
from tests.conftest import Backend


def legacy_hash(services: Services, typed: str) -> str:
    """What the old identity module stored: HMAC of the digits and '+' as typed."""
    key = bytes.fromhex(caller_hash_path(services.settings).read_text().strip())
    kept = "".join(c for c in typed if c.isdigit() or c == "+")
    return hmac.new(key, kept.encode(), hashlib.sha256).hexdigest()


def make_legacy(services: Services, wav: Path, call_id: str, typed: str) -> str:
    """A recording as the old code stored it: hash and sealed value of the number as typed."""
    res = services.pipeline().ingest(wav, IngestRequest(call_id=call_id), actor="t")
    assert res.state == "stored"
    with services.catalogue.session() as s:
        rec = s.get(Recording, res.recording_id)
        assert rec is not None and rec.key is not None
        key = services.envelope.open_data_key(rec.id, rec.key.kek_id, rec.key.wrapped_keyset)
        rec.caller_ciphertext = key.seal(typed, "caller")
        rec.caller_hash = legacy_hash(services, typed)
    return res.recording_id


def test_rehash_moves_old_hashes_to_e164_and_reports_what_it_cannot(
    services: Services, speech_call: Path
) -> None:
    national = make_legacy(services, speech_call, "c1", "01277 000013")
    no_plus = make_legacy(services, speech_call, "c2", "441277000013")
    withheld = make_legacy(services, speech_call, "c3", "anonymous")
    lost_key = make_legacy(services, speech_call, "c4", "01277000013")
    with services.catalogue.session() as s:
        rec = s.get(Recording, lost_key)
        assert rec is not None and rec.key is not None
        rec.key.kek_id = "local:gone-1"  # its KEK is not on this node
        s.add(
            DoNotRecordEntry(
                caller_hash=legacy_hash(services, "01277 000013"),
                added_at=datetime(2026, 11, 1, tzinfo=UTC),
                added_by="dpo",
                reason="asked by letter",
            )
        )
    # Before: the old hashes do not match the E.164 form of the number.
    assert services.recordings().list(ListFilter(caller="+441277000013")) == []

    ticks: list[int] = []
    report = rehash_callers(
        services.catalogue,
        services.envelope,
        services.hasher,
        actor="operator",
        progress=ticks.append,
    )
    assert sum(ticks) == 4
    assert report.checked == 4 and report.rehashed == 2 and report.withheld == 1
    assert report.resealed == 2
    assert [r["recording_id"] for r in report.not_rehashed] == [lost_key]
    assert "cannot open" in report.not_rehashed[0]["reason"]
    assert [o["reason"] for o in report.legacy_objections] == ["asked by letter"]
    found = services.recordings().list(ListFilter(caller="+44 1277 000013"))
    assert sorted(r["id"] for r in found) == sorted([national, no_plus])
    with services.catalogue.session() as s:
        w = s.get(Recording, withheld)
        assert w is not None and w.caller_hash is None and w.caller_withheld
        n = s.get(Recording, national)
        assert n is not None and n.key is not None and n.caller_ciphertext is not None
        key = services.envelope.open_data_key(n.id, n.key.kek_id, n.key.wrapped_keyset)
        assert key.unseal(n.caller_ciphertext, "caller") == "+441277000013"
        events = s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
        details = " ".join(s.scalars(select(AuditEvent.details)))
    assert events.count("recording.caller-rehash") == 3 and events[-1] == "identity.rehash"
    assert "1277" not in details and "anonymous" not in details  # no numbers in the audit

    again = rehash_callers(services.catalogue, services.envelope, services.hasher, actor="op")
    assert (again.rehashed, again.resealed, again.withheld, again.unchanged) == (0, 0, 0, 3)
    assert [r["recording_id"] for r in again.not_rehashed] == [lost_key]


def test_rehash_command_lists_legacy_objections_for_an_operator(
    backend: Backend, services: Services, speech_call: Path
) -> None:
    make_legacy(services, speech_call, "c1", "01277 000013")
    old = legacy_hash(services, "01277 000013")
    with services.catalogue.session() as s:
        s.add(
            DoNotRecordEntry(
                caller_hash=old,
                added_at=datetime(2026, 11, 1, tzinfo=UTC),
                added_by="dpo",
                reason="asked by letter",
            )
        )
    r = backend.cli("identity", "rehash", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["rehashed"] == 1 and doc["not_rehashed"] == []
    assert [o["caller_hash"] for o in doc["legacy_objections"]] == [old]
    human = backend.cli("identity", "rehash")
    assert "0 re-hashed" in human.stdout and "cannot be re-hashed" in human.stdout
    assert "objections add" in human.stderr
    # The operator re-adds the caller by number, then removes the old entry.
    backend.cli("objections", "add", "01277 000013", "--reason", "asked by letter", check=True)
    backend.cli("identity", "remove-legacy", old, "--reason", "re-added in E.164", check=True)
    assert json.loads(backend.cli("identity", "rehash", "--json").stdout)["legacy_objections"] == []
    bad = backend.cli("identity", "remove-legacy", old, "--reason", "again")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1


def test_migration_0004_keeps_old_entries_as_legacy(tmp_path: Path) -> None:
    from alembic import command

    from storage.catalogue.db import Catalogue
    from storage.rehash import legacy_objections

    cat = Catalogue(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        command.upgrade(cat._alembic_config(), "0003")
        with cat.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO do_not_record (caller_hash, added_at, added_by, reason) "
                "VALUES ('ab' || hex(randomblob(31)), '2026-11-01 00:00:00', 'dpo', 'old')"
            )
        cat.migrate()
        [old] = legacy_objections(cat)
        assert old["reason"] == "old" and len(old["caller_hash"]) == 64
        with cat.engine.connect() as conn:
            cols = [r[1] for r in conn.exec_driver_sql("PRAGMA table_info(recordings)")]
        assert "caller_withheld" in cols
        command.downgrade(cat._alembic_config(), "0003")
        command.upgrade(cat._alembic_config(), "head")
    finally:
        cat.close()
