"""storage.outbox.emit: an event exists exactly when the change it reports was committed."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from callvault.wiring import Services
from storage.catalogue.models import OutboxEvent
from storage.errors import StorageError
from storage.outbox import emit


def test_emit_commits_and_rolls_back_with_the_change(services: Services) -> None:
    services.init()
    cat = services.catalogue
    with cat.session() as s:
        kept = emit(s, "recording.stored", {"recording_id": "r1", "links": {"self": "/x"}})
    with pytest.raises(RuntimeError), cat.session() as s:
        emit(s, "recording.destroyed", {"recording_id": "r2"})
        raise RuntimeError("the change failed")
    with cat.session() as s:
        rows = s.scalars(select(OutboxEvent)).all()
    assert [(r.id, r.type) for r in rows] == [(kept, "recording.stored")]
    assert kept.startswith("msg_")
    assert json.loads(rows[0].payload) == {"links": {"self": "/x"}, "recording_id": "r1"}
    assert rows[0].dispatched_at is None


def test_emit_refuses_unknown_types_and_personal_keys(services: Services) -> None:
    services.init()
    with services.catalogue.session() as s:
        with pytest.raises(StorageError, match=r"unknown event type 'recording\.played'"):
            emit(s, "recording.played", {})
        with pytest.raises(StorageError, match="must not carry caller"):
            emit(s, "consent.objected", {"caller": "+441277312500"})
