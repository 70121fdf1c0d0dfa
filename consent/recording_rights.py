"""What the data-subject rights add to a recording's JSON object (`recordings show --json`,
the API and the recording page): whether it is restricted, and its rectification history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from consent import rectification, restriction
from storage.catalogue.db import Catalogue
from storage.retrieval import Recordings


def annotate(session: Session, view: dict[str, Any]) -> dict[str, Any]:
    """One recording's object, with "restricted", "restriction" and "rectifications"."""
    rid = view["id"]
    active = restriction.active(session, rid)
    view["restricted"] = active is not None
    view["restriction"] = restriction.restriction_view(active) if active else None
    view["rectifications"] = rectification.history(session, [rid])[rid]
    return view


def shown(recordings: Recordings, catalogue: Catalogue, recording_id: str) -> dict[str, Any]:
    """The object of `recordings show ID --json` (and of ingest, and the API)."""
    view = recordings.show(recording_id)
    with catalogue.session() as s:
        return annotate(s, view)


def mark_restricted(session: Session, views: Sequence[dict[str, Any]]) -> None:
    """Listings: a "restricted" flag on each recording object."""
    ids = restriction.restricted_ids(session, (v["id"] for v in views))
    for v in views:
        v["restricted"] = v["id"] in ids
