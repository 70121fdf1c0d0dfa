"""Jinja2, autoescaped, no I/O in templates: routes hand them plain values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from portal import access
from portal.grants import REASONS
from portal.search import OUTCOMES

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(REASONS=REASONS, OUTCOMES=OUTCOMES, allowed=access.allowed)


def render(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    sess = getattr(request.state, "session", None)
    values.setdefault("user", sess.user if sess else None)
    values.setdefault("csrf", sess.csrf_token if sess else "")
    values.setdefault("error", None)
    html = _env.get_template(name).render(**values)
    return HTMLResponse(html, status_code=status)
