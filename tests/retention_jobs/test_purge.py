"""The purge on both backends: what goes, what stays, what is recorded."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from callvault.wiring import Services
from storage.audit import canonical_json
from storage.catalogue.models import AuditEvent, ConsentRecordRow, DestructionRecord
from tests.conftest import Backend
from tests.retention_jobs.conftest import (
    T0,
    audit_ok,
    count,
    keys_left,
    make_recordings,
    records,
    rows,
    set_policy,
    snapshot,
    versions,
)

DAY = timedelta(days=1)


def test_dry_run_lists_and_changes_nothing(
    backend: Backend, rsvc: Services, tmp_path: Path
) -> None:
    old = make_recordings(rsvc, 3, tmp=tmp_path)  # standard, 90 days: expire 2026-04-15
    young = make_recordings(rsvc, 2, started_at=T0 + 60 * DAY, tmp=tmp_path)
    keys = [m.object_key for m in old + young]
    before = snapshot(rsvc, keys)
    report = rsvc.purger().run(now=T0 + 100 * DAY, actor="t", dry_run=True)
    assert snapshot(rsvc, keys) == before
    assert sorted(d["recording_id"] for d in report.would_destroy) == sorted(m.id for m in old)
    assert all(
        "under class standard (90 days) of policy RP-TEST@" in d["reason"]
        for d in report.would_destroy
    )
    cli = backend.cli(
        "retention", "run", "--dry-run", "--now", (T0 + 100 * DAY).isoformat(), check=True
    )
    assert cli.stdout.count("\nwould destroy  ") + cli.stdout.startswith("would destroy  ") == 3
    assert snapshot(rsvc, keys) == before


def test_run_destroys_every_version_key_and_personal_field(
    backend: Backend, rsvc: Services, tmp_path: Path
) -> None:
    old = make_recordings(rsvc, 10, tmp=tmp_path)  # 10 with batch size 7: two batches
    keep = make_recordings(rsvc, 2, started_at=T0 + 60 * DAY, tmp=tmp_path)
    if backend.s3 is not None:
        assert all(len(versions(rsvc, m.object_key)) == 2 for m in old)  # versioned bucket
    ids = [m.id for m in old]
    report = rsvc.purger().run(now=T0 + 91 * DAY, actor="t")

    assert sorted(d["recording_id"] for d in report.destroyed) == sorted(ids)
    assert all(versions(rsvc, m.object_key) == [] for m in old)
    assert all(versions(rsvc, m.object_key) for m in keep)
    assert keys_left(rsvc, ids) == 0 and keys_left(rsvc, [m.id for m in keep]) == 2
    for rec in rows(rsvc, ids).values():
        assert (rec.state, rec.caller_hash, rec.caller_ciphertext) == ("destroyed", None, None)
    assert {r.state for r in rows(rsvc, [m.id for m in keep]).values()} == {"stored"}
    with rsvc.catalogue.session() as s:  # consent records of the call go with the recording
        assert (
            s.scalars(
                select(ConsentRecordRow.recording_id).where(ConsentRecordRow.recording_id.in_(ids))
            ).all()
            == []
        )

    recs = {r.recording_id: r for r in records(rsvc)}
    assert sorted(recs) == sorted(ids)
    expected_versions = 2 if backend.s3 is not None else 1
    for m in old:
        r = recs[m.id]
        assert (
            r.kind,
            r.object_key,
            r.versions_removed,
            r.key_destroyed,
            r.consent_records_removed,
        ) == ("recording", m.object_key, expected_versions, True, 1)
        assert (r.retention_class, r.retention_period, r.policy_id) == (
            "standard",
            "90 days",
            "RP-TEST",
        )
        assert r.policy_fingerprint == rsvc.retention_policy().fingerprint
        assert r.expired_at == T0 + 90 * DAY and r.as_of == T0 + 91 * DAY
        assert r.run_id == report.run_id and r.resumed_from_run is None and r.node
        assert r.destroyed_at > T0 + 300 * DAY  # wall-clock time, not --now
        assert r.audit_seq is not None
    with rsvc.catalogue.session() as s:  # each record has its audit event, and no personal data
        for r in recs.values():
            ev = s.get(AuditEvent, r.audit_seq)
            assert ev is not None and ev.action == "recording.destroy"
            assert ev.recording_id == r.recording_id and r.run_id in ev.details
        columns = {c.name for c in DestructionRecord.__table__.columns}
        assert not columns & {"caller_hash", "caller_ciphertext", "call_id", "caller"}
    assert audit_ok(rsvc)

    again = rsvc.purger().run(now=T0 + 91 * DAY, actor="t")  # idempotent
    assert again.destroyed == [] and len(records(rsvc)) == 10


def test_export_of_a_destroyed_recording_says_when_and_why(
    backend: Backend, rsvc: Services, tmp_path: Path
) -> None:
    (m,) = make_recordings(rsvc, 1, tmp=tmp_path)
    out = tmp_path / "ok.opus"  # the fixture's audio is not real Opus: no conversion
    backend.cli("recordings", "export", m.id, "--out", str(out), "--reason", "t", check=True)
    report = rsvc.purger().run(now=T0 + 91 * DAY, actor="t")
    r = backend.cli("recordings", "export", m.id, "--out", str(tmp_path / "x.wav"), "--reason", "t")
    assert r.returncode == 1
    assert f"recording {m.id} was destroyed at " in r.stderr
    assert "under retention policy RP-TEST" in r.stderr and "class standard (90 days" in r.stderr
    assert f"by retention run {report.run_id}" in r.stderr and "Traceback" not in r.stderr
    with rsvc.catalogue.session() as s:  # the refused export is audited too
        last = s.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
        assert last.action == "recording.export.failed" and "destroyed" in last.details


def test_policy_lengthened_without_apply_destroys_nothing_early(
    backend: Backend, rsvc: Services, tmp_path: Path
) -> None:
    made = make_recordings(rsvc, 3, tmp=tmp_path)  # stored expiry: 90 days
    set_policy(backend, standard="1 year")  # nobody ran `retention apply`
    svc = Services.build(backend.settings)
    try:
        report = svc.purger().run(now=T0 + 100 * DAY, actor="t")
        assert report.destroyed == []
        assert sorted(d["recording_id"] for d in report.reassigned) == sorted(m.id for m in made)
        assert {r.expires_at for r in rows(svc, [m.id for m in made]).values()} == {
            T0.replace(year=2027)
        }
        assert all(versions(svc, m.object_key) for m in made)
    finally:
        svc.close()


def test_case_tagged_later_moves_to_its_class_before_destruction(
    backend: Backend, rsvc: Services, tmp_path: Path
) -> None:
    (m,) = make_recordings(rsvc, 1, tmp=tmp_path)
    rsvc.recordings().tag(m.id, "COMP-42", actor="t")  # tagging does not recompute expiry
    report = rsvc.purger().run(now=T0 + 100 * DAY, actor="t")
    assert report.destroyed == []
    assert report.reassigned[0]["to_class"] == "complaint"
    assert rows(rsvc, [m.id])[m.id].expires_at == T0.replace(year=2028)


def test_consent_only_records_expire_by_their_own_class(
    backend: Backend, rsvc: Services, tmp_path: Path
) -> None:
    (m,) = make_recordings(rsvc, 1, started_at=T0 + 200 * DAY, tmp=tmp_path)
    with rsvc.catalogue.session() as s:
        for i, days in enumerate((0, 10, 40)):  # consent-only class: 30 days
            s.add(
                ConsentRecordRow(
                    call_id=f"objected-{i}",
                    recording_id=None,
                    received_at=T0 + days * DAY,
                    document=canonical_json({"objected": True}),
                )
            )
        # a consent row not linked yet, but for a call that has a live recording: not alone
        s.add(
            ConsentRecordRow(
                call_id=rows(rsvc, [m.id])[m.id].call_id,
                recording_id=None,
                received_at=T0,
                document="{}",
            )
        )
    dry = rsvc.purger().run(now=T0 + 41 * DAY, actor="t", dry_run=True)
    assert len(dry.would_destroy_consent) == 2
    report = rsvc.purger().run(now=T0 + 41 * DAY, actor="t")
    assert len(report.consent_destroyed) == 2 and count(rsvc, ConsentRecordRow) == 3
    recs = [r for r in records(rsvc) if r.kind == "consent-record"]
    assert len(recs) == 2 and all(r.retention_class == "consent-only" for r in recs)
    assert {r.expired_at for r in recs} == {T0 + 30 * DAY, T0 + 40 * DAY}
    assert all(r.recording_id is None and r.consent_record_id for r in recs)
    assert audit_ok(rsvc)


def test_cli_run_json_and_records(backend: Backend, rsvc: Services, tmp_path: Path) -> None:
    import json

    make_recordings(rsvc, 2, tmp=tmp_path)
    r = backend.cli("retention", "run", "--now", (T0 + 91 * DAY).isoformat(), "--json", check=True)
    doc = json.loads(r.stdout)
    assert len(doc["destroyed"]) == 2 and doc["error"] is None and not doc["dry_run"]
    listed = json.loads(backend.cli("retention", "records", "--json", check=True).stdout)
    assert {d["recording_id"] for d in listed} == {d["recording_id"] for d in doc["destroyed"]}
    assert backend.cli("audit", "verify").returncode == 0


def test_a_stop_request_ends_the_run_after_the_current_batch(
    backend: Backend, rsvc: Services, tmp_path: Path
) -> None:
    made = make_recordings(rsvc, 10, tmp=tmp_path, extra_version=False)  # batches of 7
    batches: list[list[str]] = []
    purger = rsvc.purger(
        on_step=lambda step, ids: batches.append(ids) if step == "finalised" else None
    )
    report = purger.run(now=T0 + 91 * DAY, actor="t", should_stop=lambda: bool(batches))
    assert report.stopped_early and len(report.destroyed) == 7 and len(batches) == 1
    assert sum(r.state == "destroying" for r in rows(rsvc, [m.id for m in made]).values()) == 0
    rest = rsvc.purger().run(now=T0 + 91 * DAY, actor="t")
    assert len(rest.destroyed) == 3 and audit_ok(rsvc)


def test_schema_matches_the_migrations(backend: Backend, rsvc: Services) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from storage.catalogue.models import Base

    with rsvc.catalogue.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
