"""Submitting and reading evaluations: one recording, its staff member, a pinned form version,
answers, comments at moments of the audio, the evaluator and the computed score (audited)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.restriction import active as active_restriction
from quality.answers import Comment, check_answers, check_comments
from quality.calibration import Scored, spread
from quality.errors import QualityError
from quality.library import form_of, resolve
from quality.scoring import score
from storage import fields
from storage.audit import AuditLog, canonical_json
from storage.catalogue.db import Catalogue
from storage.catalogue.models import QaComment, QaEvaluation, QaFormVersion, Recording
from storage.clock import utcnow
from storage.errors import NotFoundError

KINDS = ("evaluation", "calibration")  # calibration scores are left out of staff reports


def evaluation_view(e: QaEvaluation) -> dict[str, Any]:
    v = e.form_version
    return {
        "id": e.id,
        "recording_id": e.recording_id,
        "kind": e.kind,
        "staff": e.staff,
        "service": e.service,
        "call_started_at": e.call_started_at.isoformat(),
        "form": v.form.slug,
        "form_version": v.version,
        "form_ref": f"{v.form.slug}@{v.version}",
        "evaluator": e.evaluator,
        "evaluated_at": e.evaluated_at.isoformat(),
        "score": None if e.score is None else round(e.score, 2),
        "scored": e.score is not None,
        "failed_on": e.failed_on,
        "answers": json.loads(e.answers) | json.loads(e.notes or "{}"),
        "comments": [
            {"at": c.offset_s, "text": c.text, "question": c.question_id} for c in e.comments
        ],
    }


class Evaluations:
    """The evaluation service; the caller (portal, CLI) has already decided who may use it."""

    def __init__(
        self,
        catalogue: Catalogue,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._catalogue = catalogue
        self._audit = audit or AuditLog(clock)
        self._clock = clock

    def submit(
        self,
        recording_id: str,
        form_ref: str,
        answers: Mapping[str, Any],
        comments: object = None,
        *,
        evaluator: str,
        kind: str = "evaluation",
        now: datetime | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Check, score and store one evaluation, and audit it (``evaluation.submit``) under
        ``actor`` (default: the evaluator; the portal says ``portal:NAME``)."""
        fields.ACTOR.check(evaluator, label="evaluator")
        if kind not in KINDS:
            raise QualityError(f"evaluation kind {kind!r}; expected one of {', '.join(KINDS)}")
        at = now or self._clock()
        with self._catalogue.session() as s:
            rec = _evaluable(s, recording_id)
            version = resolve(s, form_ref)
            form = form_of(version)
            checked = check_answers(form, answers)
            notes = check_comments(form, comments, rec.duration_s)
            if rec.agent is not None and rec.agent == evaluator:
                raise QualityError(
                    f"recording {rec.id}: {evaluator} is the staff member on this call and "
                    "cannot evaluate it"
                )
            result = score(form, checked)
            text = {qid for qid, q in form.questions().items() if not q.scored}
            ev = QaEvaluation(
                id=str(uuid.uuid4()),
                recording_id=rec.id,
                form_version=version,
                kind=kind,
                staff=rec.agent,
                service=rec.service,
                call_started_at=rec.started_at,
                evaluator=evaluator,
                evaluated_at=at,
                answers=canonical_json({k: v for k, v in checked.items() if k not in text}),
                notes=canonical_json(notes_given)
                if (notes_given := _texts(checked, text))
                else None,
                score=result.value,
                failed_on=result.failed_on,
                comments=[_comment(c) for c in notes],
            )
            s.add(ev)
            s.flush()
            # Ids only: the score and the comments are about a person, and the log outlives them.
            self._audit.append(
                s,
                actor=actor or evaluator,
                action="evaluation.submit",
                recording_id=rec.id,
                details={
                    "evaluation_id": ev.id,
                    "form": version.form.slug,
                    "form_version": version.version,
                    "kind": kind,
                },
            )
            return evaluation_view(ev) | {"sections": dict(result.sections or {})}

    def show(self, evaluation_id: str) -> dict[str, Any]:
        with self._catalogue.session() as s:
            ev = s.get(QaEvaluation, evaluation_id)
            if ev is None:
                raise NotFoundError(f"no evaluation {evaluation_id}")
            return evaluation_view(ev)

    def calibration(self, recording_id: str, form_ref: str | None = None) -> dict[str, Any]:
        """The spread between the evaluators of one recording on one form version: ``form_ref``,
        or else the version of the latest evaluation. Each evaluator counts once (their latest)."""
        with self._catalogue.session() as s:
            if s.get(Recording, recording_id) is None:
                raise NotFoundError(f"no recording {recording_id}")
            evs = _of_recording(s, recording_id)
            if not evs:
                raise QualityError(f"recording {recording_id} has no evaluations to compare")
            version = resolve(s, form_ref) if form_ref else evs[-1].form_version
            latest = {e.evaluator: e for e in evs if e.form_version_id == version.id}
            if not latest:
                raise QualityError(
                    f"recording {recording_id} has no evaluations on form "
                    f"{version.form.slug}@{version.version}"
                )
            panel = [Scored(e.evaluator, e.score, json.loads(e.answers)) for e in latest.values()]
            other = sum(1 for e in evs if e.form_version_id != version.id)
            return {
                "recording_id": recording_id,
                "form_ref": f"{version.form.slug}@{version.version}",
                "other_versions_skipped": other,
            } | spread(form_of(version), panel)

    def for_recording(self, recording_id: str) -> list[dict[str, Any]]:
        """Every evaluation of a recording, oldest first."""
        with self._catalogue.session() as s:
            if s.get(Recording, recording_id) is None:
                raise NotFoundError(f"no recording {recording_id}")
            return [evaluation_view(e) for e in _of_recording(s, recording_id)]


def _evaluable(s: Session, recording_id: str) -> Recording:
    rec = s.get(Recording, recording_id)
    if rec is None:
        raise NotFoundError(f"no recording {recording_id}")
    if rec.state != "stored":
        raise QualityError(
            f"recording {rec.id} is {rec.state}; only a stored recording can be evaluated"
        )
    restricted = active_restriction(s, rec.id)
    if restricted is not None:
        raise QualityError(
            f"recording {rec.id} is restricted (since {restricted.restricted_at.isoformat()}, "
            "a data-subject right): it cannot be evaluated until the DPO lifts the restriction"
        )
    return rec


def _of_recording(s: Session, recording_id: str) -> list[QaEvaluation]:
    stmt = (
        select(QaEvaluation)
        .where(QaEvaluation.recording_id == recording_id)
        .join(QaFormVersion)
        .order_by(QaEvaluation.evaluated_at, QaEvaluation.id)
    )
    return list(s.scalars(stmt).unique())


def _texts(answers: Mapping[str, Any], text_ids: set[str]) -> dict[str, Any]:
    return {k: v for k, v in answers.items() if k in text_ids}


def _comment(c: Comment) -> QaComment:
    return QaComment(offset_s=c.offset_s, text=c.text, question_id=c.question_id)
