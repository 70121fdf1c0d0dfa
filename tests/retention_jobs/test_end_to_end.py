"""Real speech ingested under a 1-day policy, purged two days later through the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from callvault.wiring import Services
from storage.catalogue.models import DestructionRecord
from tests.conftest import Backend
from tests.retention_jobs.conftest import audit_ok, set_policy


def test_one_day_policy_ingest_then_purge_two_days_later(
    backend: Backend, speech_call: Path, tmp_path: Path
) -> None:
    set_policy(backend, standard="1 day")
    assert backend.cli("init").returncode == 0
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    out = backend.cli(
        "ingest",
        str(speech_call),
        "--call-id",
        "sip-call-1",
        "--caller",
        "+44 1277 312 500",
        "--service",
        "waste",
        "--started-at",
        started.isoformat(),
        "--json",
        check=True,
    )
    view = json.loads(out.stdout)
    rid = view["id"]
    assert view["retention_class"] == "standard"
    assert view["expires_at"] == (started + timedelta(days=1)).isoformat()
    assert view["caller_hash"]

    svc = Services.build(backend.reload())
    try:
        key = view["object_key"]
        if backend.s3 is not None:  # a second version of the same ciphertext (a re-upload)
            extra = tmp_path / "extra.bin"
            with svc.store.open(key) as body:
                extra.write_bytes(body.read())
            svc.store.put_file(key, extra, "0" * 64)  # another checksum tag forces the upload
            assert len(svc.store.versions(key)) == 2
        backend.cli(
            "recordings",
            "export",
            rid,
            "--out",
            str(tmp_path / "a.wav"),
            "--reason",
            "before",
            "--format",
            "wav",
            check=True,
        )

        two_days = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        dry = backend.cli("retention", "run", "--dry-run", "--now", two_days, "--json", check=True)
        assert [d["recording_id"] for d in json.loads(dry.stdout)["would_destroy"]] == [rid]
        run = json.loads(
            backend.cli("retention", "run", "--now", two_days, "--json", check=True).stdout
        )
        assert [d["recording_id"] for d in run["destroyed"]] == [rid]

        assert svc.store.versions(key) == []
        shown = json.loads(backend.cli("recordings", "show", rid, "--json", check=True).stdout)
        assert (shown["state"], shown["caller_hash"], shown["kek_id"]) == ("destroyed", None, None)
        assert shown["consent"] is None
        r = backend.cli(
            "recordings", "export", rid, "--out", str(tmp_path / "b.wav"), "--reason", "after"
        )
        assert r.returncode == 1 and not (tmp_path / "b.wav").exists()
        assert f"recording {rid} was destroyed at" in r.stderr
        assert "class standard (1 day" in r.stderr and run["run_id"] in r.stderr
        with svc.catalogue.session() as s:
            dr = s.scalars(select(DestructionRecord)).one()
            assert (dr.recording_id, dr.object_key, dr.key_destroyed) == (rid, key, True)
            assert dr.versions_removed == (2 if backend.s3 is not None else 1)
            assert dr.retention_period == "1 day" and dr.policy_id == "RP-TEST"
        assert audit_ok(svc) and backend.cli("audit", "verify").returncode == 0
    finally:
        svc.close()


def test_apply_after_a_policy_change_reports_moves(backend: Backend, speech_call: Path) -> None:
    set_policy(backend, standard="90 days")
    backend.cli("init", check=True)
    t = datetime(2026, 1, 31, 9, tzinfo=UTC)
    ids = []
    for i, case in enumerate(["", "COMP-1", "", ""]):
        args = ["--case-id", case] if case else []
        out = backend.cli(
            "ingest",
            str(speech_call),
            "--call-id",
            f"c{i}",
            "--started-at",
            (t + timedelta(hours=i)).isoformat(),
            "--json",
            *args,
            check=True,
        )
        ids.append(json.loads(out.stdout)["id"])

    set_policy(backend, standard="1 months")  # 90 days -> 1 month: earlier, past the clamp
    dry = json.loads(
        backend.cli(
            "retention", "apply", "--dry-run", "--now", "2026-03-15T00:00:00", "--json", check=True
        ).stdout
    )
    assert (dry["moved_earlier"], dry["unchanged"], dry["now_expired"]) == (3, 1, 3)
    shown = json.loads(backend.cli("recordings", "show", ids[0], "--json", check=True).stdout)
    assert shown["expires_at"] == "2026-05-01T09:00:00+00:00"  # dry run wrote nothing

    done = json.loads(backend.cli("retention", "apply", "--json", check=True).stdout)
    assert (done["examined"], done["moved_earlier"], done["moved_later"]) == (4, 3, 0)
    shown = json.loads(backend.cli("recordings", "show", ids[0], "--json", check=True).stdout)
    assert shown["expires_at"] == "2026-03-01T00:00:00+00:00"  # 31 Jan + 1 month

    set_policy(backend, standard="1 years")
    later = json.loads(backend.cli("retention", "apply", "--json", check=True).stdout)
    assert (later["moved_earlier"], later["moved_later"], later["unchanged"]) == (0, 3, 1)
    human = backend.cli("retention", "apply", check=True).stdout
    assert "0 earlier" in human and "4 unchanged" in human
    policy = json.loads(backend.cli("retention", "policy", "--json", check=True).stdout)
    assert policy["classes"]["standard"]["period"] == "1 year"
    assert backend.cli("audit", "verify").returncode == 0
