"""Caller numbers: one E.164 form for every spelling; withheld callers are stored, never hashed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from callvault.settings import ConfigError, load_settings
from callvault.wiring import Services
from consent.do_not_record import DoNotRecordCache, DoNotRecordList
from storage.catalogue.models import Recording
from storage.identity import CallerHasher, WithheldCallerError, canonical_number
from storage.ingest import IngestRequest
from storage.retrieval import ListFilter
from storage.spool import Job

ONE_CALLER = [
    "+44 1277 000013",
    "441277000013",
    "01277 000013",
    "01277000013",
    "+44 (0)1277 000013",
    "+4401277000013",
    "0044 1277 000013",
    "tel:+441277000013",
    "sip:+441277000013@trunk.example;user=phone",
    "<sip:01277000013@10.0.0.1>",
    '"Jo" <sip:01277000013@10.0.0.1>;tag=abc',
    "sips:441277000013@10.0.0.1:5061",
]
FOREIGN = [
    ("+1 202-555-0143", "+12025550143"),
    ("12025550143", "+12025550143"),  # no '+', not a UK number: read as international
    ("0033 1 42 68 53 00", "+33142685300"),
    ("tel:+33142685300", "+33142685300"),
    ("+353 1 234 5678", "+35312345678"),
]
WITHHELD = [
    "anonymous",
    "sip:anonymous@anonymous.invalid",
    '"Anonymous" <sip:anonymous@anonymous.invalid>',
    "Restricted",
    "john smith",
    "",
    "   ",
    "+",
    "999",
    "+44 1277 000013 ext",
]


@pytest.mark.parametrize("spelling", ONE_CALLER)
def test_every_spelling_of_one_caller_is_one_e164_number(spelling: str) -> None:
    assert canonical_number(spelling, "GB") == "+441277000013"


@pytest.mark.parametrize(("spelling", "e164"), FOREIGN)
def test_foreign_numbers(spelling: str, e164: str) -> None:
    assert canonical_number(spelling, "GB") == e164


def test_the_default_region_decides_national_spellings() -> None:
    assert canonical_number("(202) 555-0143", "US") == "+12025550143"
    assert canonical_number("01 42 68 53 00", "FR") == "+33142685300"
    assert canonical_number("+44 1277 000013", "US") == "+441277000013"


@pytest.mark.parametrize("value", WITHHELD)
def test_values_that_are_no_number_are_withheld(value: str) -> None:
    assert canonical_number(value, "GB") is None
    hasher = CallerHasher(b"k" * 32)
    assert hasher.hash_or_none(value) is None
    with pytest.raises(WithheldCallerError) as exc:
        hasher.hash(value)
    assert value.strip() == "" or value not in str(exc.value)  # never echoed


def test_hashes_agree_across_spellings_and_differ_across_keys() -> None:
    a, b = CallerHasher(b"a" * 32), CallerHasher(b"b" * 32)
    assert len({a.hash(s) for s in ONE_CALLER}) == 1
    assert a.hash(ONE_CALLER[0]) != b.hash(ONE_CALLER[0])
    assert a.hash("+441277000013") != a.hash("+441277000014")


def test_identity_region_is_validated_like_other_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[identity]\ndefault_region = "US"\n')
    assert load_settings(cfg, environ={}).identity.default_region == "US"
    assert load_settings(environ={}, cwd=tmp_path).identity.default_region == "GB"
    for bad in ("XX", "gb", "Great Britain"):
        cfg.write_text(f'[identity]\ndefault_region = "{bad}"\n')
        with pytest.raises(ConfigError, match=f"identity.default_region = '{bad}'"):
            load_settings(cfg, environ={})
    with pytest.raises(ConfigError, match=r"identity\.default_regoin"):
        cfg.write_text('[identity]\ndefault_regoin = "GB"\n')
        load_settings(cfg, environ={})


def test_region_check_agrees_with_the_library_without_importing_it() -> None:
    import phonenumbers

    from storage.identity import _known_regions

    assert _known_regions() == frozenset(phonenumbers.SUPPORTED_REGIONS)
    code = (
        "import sys; from storage.identity import check_region; check_region('GB'); "
        "print('phonenumbers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _ingest(services: Services, wav: Path, caller: str | None, call_id: str) -> str:
    req = IngestRequest(call_id=call_id, caller=caller, service="waste")
    result = services.pipeline().ingest(wav, req, actor="tester")
    assert result.state == "stored", result.message
    return result.recording_id


def test_objection_in_one_spelling_holds_for_every_other(services: Services) -> None:
    """Issue 7, found 1: objected as '+44 1277 000013', called as '441277000013'."""
    dnr = DoNotRecordList(services.catalogue, services.hasher)
    dnr.add("+44 1277 000013", reason="asked by phone", actor="dpo")
    cache = DoNotRecordCache(dnr)
    cache.load()
    try:
        for spelling in ONE_CALLER:
            assert dnr.contains(spelling), spelling
            assert cache(spelling) and cache.lookup(spelling).result(10), spelling
        for value in WITHHELD:
            assert not dnr.contains(value) and not cache(value)
            assert cache.lookup(value).result(10) is False
        assert not dnr.contains("+441277000014")
    finally:
        cache.stop()
    [entry] = dnr.list()
    assert entry["hash_scheme"] == "e164"
    with pytest.raises(WithheldCallerError):
        dnr.add("anonymous", reason="x", actor="dpo")


def test_list_by_caller_finds_every_spelling(services: Services, speech_call: Path) -> None:
    rid = _ingest(services, speech_call, "441277000013", "c-1")
    _ingest(services, speech_call, "+441277000014", "c-2")
    for spelling in ONE_CALLER:
        found = services.recordings().list(ListFilter(caller=spelling))
        assert [r["id"] for r in found] == [rid], spelling
    with services.catalogue.session() as s:
        rec = s.get(Recording, rid)
        assert rec is not None and rec.key is not None and rec.caller_ciphertext
        key = services.envelope.open_data_key(rid, rec.key.kek_id, rec.key.wrapped_keyset)
        assert key.unseal(rec.caller_ciphertext, "caller") == "+441277000013"  # sealed E.164


@pytest.mark.parametrize("caller", ["sip:anonymous@anonymous.invalid", "anonymous", "Restricted"])
def test_withheld_caller_is_stored_without_a_hash(
    services: Services, speech_call: Path, caller: str
) -> None:
    """Issue 7, found 5: was `StorageError: caller number 'anonymous' has no digits`."""
    rid = _ingest(services, speech_call, caller, "withheld-1")
    with services.catalogue.session() as s:
        rec = s.get(Recording, rid)
        assert rec is not None and rec.caller_hash is None and rec.caller_withheld is True
    assert list(services.spool.jobs_dir.iterdir()) == []


def test_resume_stores_a_withheld_call_stuck_in_the_spool(
    services: Services, speech_call: Path
) -> None:
    """A job the old code left behind (it failed at encrypt, after transcoding) is stored."""

    class Crash(BaseException):  # like a kill: nothing in the pipeline handles it
        pass

    def crash(state: str, job: Job) -> None:
        if state == "transcoded":
            raise Crash

    req = IngestRequest(call_id="stuck-1", caller="sip:anonymous@anonymous.invalid")
    job = services.pipeline().submit(speech_call, req, actor="sip-agent")
    with pytest.raises(Crash):
        services.pipeline(on_step=crash).process(job.id)
    assert (services.spool.jobs_dir / job.id).is_dir()
    [result] = services.pipeline().resume()
    assert result.state == "stored", result.message
    with services.catalogue.session() as s:
        [rec] = s.scalars(select(Recording)).all()
        assert rec.caller_withheld and rec.caller_hash is None


def test_lookup_sees_an_entry_added_after_the_list_was_loaded(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    dnr = DoNotRecordList(services.catalogue, services.hasher)
    cache = DoNotRecordCache(dnr, refresh_s=3600)
    cache.start()
    try:
        dnr.add("01277 000013", reason="asked by phone", actor="dpo")
        assert not cache("+441277000013")  # the copy in memory is stale...
        assert cache.lookup("441277000013").result(10)  # ...the query at INVITE is not
        cache.load()
        with services.catalogue.engine.begin() as conn:  # the database fails
            conn.exec_driver_sql("DROP TABLE do_not_record")
        assert cache.lookup("+44 1277 000013").result(10)  # answered from memory
        assert not cache.lookup("+441277000014").result(10)
        assert "do-not-record lookup failed" in caplog.text and "1277" not in caplog.text
    finally:
        cache.stop()
