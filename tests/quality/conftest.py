"""QA fixtures: the shipped example form, and real recordings ingested through storage."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from callvault.wiring import Services
from quality.definition import Form, load_form_file, parse_form
from storage.ingest import IngestRequest

EXAMPLE = Path(__file__).parents[2] / "quality/examples/council-contact-centre.toml"


@pytest.fixture
def example_form() -> Form:
    return load_form_file(EXAMPLE)


def small_form(**overrides: Any) -> Form:
    """Two weighted sections and a fail question: small enough to reason about by hand."""
    doc: dict[str, Any] = {
        "id": "small",
        "title": "Small form",
        "sections": [
            {
                "id": "a",
                "title": "A",
                "weight": 60,
                "questions": [
                    {"id": "a1", "text": "yes or no?", "kind": "yes-no"},
                    {"id": "a2", "text": "how good?", "kind": "scale"},
                ],
            },
            {
                "id": "b",
                "title": "B",
                "weight": 40,
                "questions": [
                    {"id": "b1", "text": "safe?", "kind": "yes-no", "fails_evaluation": True},
                    {"id": "b2", "text": "notes", "kind": "text"},
                ],
            },
        ],
    }
    doc.update(overrides)
    return parse_form(doc)


def all_yes(form: Form, scale: int = 5) -> dict[str, Any]:
    """Every yes-no question "yes", every scale question ``scale``."""
    out: dict[str, Any] = {}
    for qid, q in form.questions().items():
        if q.kind == "yes-no":
            out[qid] = "yes"
        elif q.kind == "scale":
            out[qid] = scale
    return out


def ingest_call(
    services: Services,
    audio: Path,
    *,
    call_id: str,
    agent: str | None = "alice",
    service: str | None = "waste",
    started_at: datetime | None = None,
) -> str:
    """A real recording through spool, transcode, encryption, upload and commit."""
    req = IngestRequest(call_id=call_id, agent=agent, service=service, started_at=started_at)
    result = services.pipeline().ingest(audio, req, actor="sip-agent")
    assert result.state == "stored", result.message
    return result.recording_id
