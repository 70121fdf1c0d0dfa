"""Forms in the catalogue: loading a definition adds a version only when its content changed.

A version is never edited or removed, so an evaluation always shows the questions it answered.
A form is named by its slug (its latest version) or ``slug@N`` (version N).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from quality.definition import Form, parse_form
from quality.errors import FormError
from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import QaEvaluation, QaForm, QaFormVersion
from storage.clock import utcnow
from storage.errors import NotFoundError


def form_of(version: QaFormVersion) -> Form:
    """The Form a stored version holds (it was validated when it was loaded)."""
    return parse_form(json.loads(version.definition))


def resolve(session: Session, ref: str) -> QaFormVersion:
    """``slug`` (latest version) or ``slug@N``; NotFoundError names what is missing."""
    slug, _, num = ref.partition("@")
    form = session.scalar(select(QaForm).where(QaForm.slug == slug))
    if form is None:
        raise NotFoundError(f"no QA form {slug!r} (see `callvault qa forms list`)")
    stmt = select(QaFormVersion).where(QaFormVersion.form_id == form.id)
    if num:
        if not num.isdigit():
            raise FormError(f"form reference {ref!r}: the version after '@' must be a number")
        found = session.scalar(stmt.where(QaFormVersion.version == int(num)))
        if found is None:
            latest = max(v.version for v in form.versions)
            raise NotFoundError(f"QA form {slug} has no version {num} (versions 1 to {latest})")
        return found
    latest_v = session.scalar(stmt.order_by(QaFormVersion.version.desc()).limit(1))
    if latest_v is None:  # pragma: no cover - a form is created with its first version
        raise NotFoundError(f"QA form {slug} has no versions")
    return latest_v


def version_view(v: QaFormVersion, *, definition: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "form": v.form.slug,
        "version": v.version,
        "ref": f"{v.form.slug}@{v.version}",
        "title": v.title,
        "fingerprint": v.fingerprint,
        "created_at": v.created_at.isoformat(),
        "created_by": v.created_by,
    }
    if definition:
        view["definition"] = json.loads(v.definition)
    return view


class FormLibrary:
    """Loads, lists and shows QA forms; loading is audited (``evaluation.form_load``)."""

    def __init__(
        self,
        catalogue: Catalogue,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._catalogue = catalogue
        self._audit = audit or AuditLog(clock)
        self._clock = clock

    def load(self, form: Form, *, actor: str, now: datetime | None = None) -> dict[str, Any]:
        """Store ``form`` as version 1, or as a new version when it differs from the latest;
        the view's ``changed`` is False when the latest version already has this content."""
        at = now or self._clock()
        with self._catalogue.session() as s:
            row = s.scalar(select(QaForm).where(QaForm.slug == form.slug).with_for_update())
            if row is None:
                row = QaForm(slug=form.slug, created_at=at)
                s.add(row)
                s.flush()
            latest = s.scalar(
                select(QaFormVersion)
                .where(QaFormVersion.form_id == row.id)
                .order_by(QaFormVersion.version.desc())
                .limit(1)
            )
            if latest is not None and latest.fingerprint == form.fingerprint:
                return version_view(latest) | {"changed": False}
            v = QaFormVersion(
                form=row,
                version=(latest.version + 1) if latest else 1,
                title=form.title,
                definition=form.canonical_json(),
                fingerprint=form.fingerprint,
                created_at=at,
                created_by=actor,
            )
            s.add(v)
            s.flush()
            self._audit.append(
                s,
                actor=actor,
                action="evaluation.form_load",
                details={"form": form.slug, "version": v.version, "fingerprint": v.fingerprint},
            )
            return version_view(v) | {"changed": True}

    def list_forms(self) -> list[dict[str, Any]]:
        """Each form's latest version, with how many versions and evaluations it has."""
        with self._catalogue.session() as s:
            out = []
            for form in s.scalars(select(QaForm).order_by(QaForm.slug)):
                latest = form.versions[-1]
                used = s.scalar(
                    select(func.count())
                    .select_from(QaEvaluation)
                    .join(QaFormVersion)
                    .where(QaFormVersion.form_id == form.id)
                )
                out.append(
                    version_view(latest) | {"versions": len(form.versions), "evaluations": used}
                )
            return out

    def show(self, ref: str) -> dict[str, Any]:
        with self._catalogue.session() as s:
            return version_view(resolve(s, ref), definition=True)
