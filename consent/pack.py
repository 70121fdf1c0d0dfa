"""The reply to an access or portability request: one zip, streamed, its SHA-256 audited.

Layout (documented for the subject in README.txt and for machines in data.json, schema
``callvault-subject-pack/1``): ``recordings/ID/recording.json`` and the audio of each
recording found (the caller's channel only unless both channels were decided, with a reason),
``consent/N.json`` for each call with no audio, ``index.csv``, ``data.json``, ``README.txt`` (the
cover page) and ``SHA256SUMS``. Memory stays flat: audio goes through in chunks. When the
last byte has been produced, one audit event records the pack's SHA-256, size and contents.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

from consent import disclosures, rectification
from consent.errors import ConsentError
from consent.pack_audio import EXTENSIONS, caller_files, decode_to_wav, workdir
from consent.pack_cover import cover_text
from consent.pack_plan import PackPlan, as_json, disclosure_doc, index_csv, recording_doc, summary
from consent.requests import SubjectRequests, reason_text, request_view
from consent.requests_find import HoldLookup, consent_view, find, standing
from storage.audio import AudioTools
from storage.catalogue.models import ConsentRecordRow
from storage.crypto import raise_integrity
from storage.retrieval import Recordings, recording_view

CHUNK = 256 * 1024
PACK_KINDS = ("access", "portability")
Advance = Callable[[int], None]


class _Sink:
    """zipfile's output: collects what it writes, hashing and counting every byte."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, b: bytes, /) -> int:
        self.parts.append(bytes(b))
        self.digest.update(b)
        self.size += len(b)
        return len(b)

    def flush(self) -> None:
        return None

    def drain(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


class Packs:
    """Plans and streams packs for access and portability requests."""

    def __init__(
        self,
        requests: SubjectRequests,
        recordings: Recordings,
        audio: AudioTools,
        holds_of: HoldLookup,
        *,
        work_parent: Path | None = None,
    ) -> None:
        self.requests = requests
        self.recordings = recordings
        self.audio = audio
        self.holds_of = holds_of
        self.work_parent = work_parent

    def plan(
        self, request_id: str, *, actor: str, both_channels: bool = False, reason: str | None = None
    ) -> PackPlan:
        if both_channels:
            if not reason:
                raise ConsentError(
                    "--both-channels needs --reason: the staff member's voice is a third "
                    "party's data, so including it is a recorded decision"
                )
            reason = reason_text(reason, "both-channels reason (--reason)")
        cat = self.requests.catalogue
        with cat.session() as s:
            r = self.requests.get(s, request_id, lock=True)
            if r.kind not in PACK_KINDS:
                raise ConsentError(
                    f"request {r.id} is a {r.kind} request; a pack answers "
                    f"{' or '.join(PACK_KINDS)} requests"
                )
            self.requests.start(s, r, actor=actor, why="pack")
            found = find(s, r)
            ids = [x.id for x in found.recordings]
            states = standing(s, found.recordings, self.holds_of)
            docs = {
                x.id: recording_doc(recording_view(x, None), states[x.id]) for x in found.recordings
            }
            for row in s.scalars(
                select(ConsentRecordRow)
                .where(ConsentRecordRow.recording_id.in_(ids))
                .order_by(ConsentRecordRow.id)
            ):
                docs[str(row.recording_id)]["consent"].append(json.loads(row.document))
            told = disclosures.for_recordings(s, ids)
            for d in told:
                for rid in d["recording_ids"]:
                    if rid in docs:
                        docs[rid]["disclosures"].append(d["id"])
            for rid, changes in rectification.history(s, ids).items():
                docs[rid]["rectifications"] = changes
            audio = {
                x.id: (x.format, x.sample_rate, x.plaintext_bytes, x.sha256_plaintext)
                for x in found.recordings
                if x.state == "stored" and (both_channels or x.channels == 2)
            }
            for x in found.recordings:
                if x.state == "stored" and x.id not in audio:
                    docs[x.id]["audio_note"] = (
                        "withheld: a mono recording mixes the staff member's voice with yours"
                    )
            return PackPlan(
                request=request_view(r, self.requests.today()),
                actor=actor,
                at=self.requests.clock(),
                both_channels=both_channels,
                reason=reason,
                recordings=list(docs.values()),
                consent_only=[consent_view(c) for c in found.consent_only],
                disclosures=[disclosure_doc(d, set(ids)) for d in told],
                audio=audio,
            )

    def stream(
        self, plan: PackPlan, advance: Advance | None = None, *, work_parent: Path | None = None
    ) -> Iterator[bytes]:
        """The zip in chunks; once the last chunk is out, the pack is audited. Decoded audio
        passes through a private directory under ``work_parent`` (default: the system's)."""
        sink = _Sink()
        stamp = plan.at.timetuple()[:6]
        zf = zipfile.ZipFile(sink, "w")  # type: ignore[call-overload]
        with zf, workdir(work_parent or self.work_parent) as work:

            def put(name: str, chunks: Iterator[bytes], *, compress: bool) -> Iterator[bytes]:
                info = zipfile.ZipInfo(name, stamp)
                info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
                digest, n = hashlib.sha256(), 0
                with zf.open(info, "w", force_zip64=True) as member:
                    for chunk in chunks:
                        digest.update(chunk)
                        n += len(chunk)
                        member.write(chunk)
                        yield sink.drain()
                plan.files.append({"file": name, "bytes": n, "sha256": digest.hexdigest()})
                yield sink.drain()

            def text(name: str, body: str) -> Iterator[bytes]:
                return put(name, iter([body.encode()]), compress=True)

            for doc in plan.recordings:
                rid = doc["id"]
                if rid in plan.audio:
                    for name, chunks, meta in self._audio(plan, rid, work):
                        yield from put(f"recordings/{rid}/{name}", chunks, compress=False)
                        doc["files"].append(plan.files[-1] | meta | {"file": name})
                yield from text(f"recordings/{rid}/recording.json", as_json(doc))
                if advance:
                    advance(1)
            for c in plan.consent_only:
                yield from text(f"consent/{c['consent_record_id']}.json", as_json(c))
            yield from text("index.csv", index_csv(plan))
            yield from text("data.json", as_json(plan.document()))
            yield from text("README.txt", cover_text(plan.document()))
            sums = "".join(f"{f['sha256']}  {f['file']}\n" for f in plan.files)
            zf.writestr(zipfile.ZipInfo("SHA256SUMS", stamp), sums)
        yield sink.drain()
        plan.sha256, plan.size = sink.digest.hexdigest(), sink.size
        self._record(plan)

    def _audio(
        self, plan: PackPlan, rid: str, work: Path
    ) -> Iterator[tuple[str, Iterator[bytes], dict[str, Any]]]:
        fmt, rate, length, sha = plan.audio[rid]
        if not plan.both_channels:
            with self.recordings.open_audio(rid) as src:
                files = caller_files(self.audio, src, work, fmt=fmt, rate=rate)
            for name, path in files:
                yield name, _read_and_remove(path), {"channels": "caller"}
            return
        ext = EXTENSIONS.get(fmt, fmt)
        stored = _checked_stream(self.recordings, rid, length, sha)
        yield f"call.{ext}", stored, {"channels": "both"}
        if fmt != "wav":
            with self.recordings.open_audio(rid) as src:
                wav = decode_to_wav(
                    self.audio, src, work / "call.wav", caller_only=False, rate=rate
                )
            yield "call.wav", _read_and_remove(wav), {"channels": "both"}

    def _record(self, plan: PackPlan) -> None:
        with self.requests.catalogue.session() as s:
            self.requests.audit.append(
                s,
                actor=plan.actor,
                action="request.pack",
                details={
                    "request_id": plan.request["id"],
                    "sha256": plan.sha256,
                    "bytes": plan.size,
                    "both_channels": plan.both_channels,
                    "reason": plan.reason,
                    "recordings": [d["id"] for d in plan.recordings],
                    "consent_records": [c["consent_record_id"] for c in plan.consent_only],
                    "contents": [[f["file"], f["sha256"]] for f in plan.files],
                },
            )

    def write(
        self, plan: PackPlan, out: Path, advance: Advance | None = None, *, force: bool = False
    ) -> dict[str, Any]:
        """Write the pack to ``out`` (via a temporary file renamed when complete)."""
        from storage.export import OutputFile

        target = OutputFile(out, force=force)
        try:
            with open(target.tmp, "wb") as f:
                for chunk in self.stream(plan, advance, work_parent=target.tmp.parent):
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            target.release()
        except BaseException:
            target.discard()
            raise
        return summary(plan, str(out))


def _read_and_remove(path: Path) -> Iterator[bytes]:
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
    finally:
        path.unlink(missing_ok=True)


def _checked_stream(recs: Recordings, rid: str, length: int, sha: str) -> Iterator[bytes]:
    """The stored audio as it is; bytes that do not hash to the catalogue's SHA-256 stop it
    (the pack is then incomplete, never wrong)."""
    digest, n = hashlib.sha256(), 0
    with recs.open_audio(rid) as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            n += len(chunk)
            yield chunk
    if n != length or digest.hexdigest() != sha:
        raise raise_integrity(rid)
