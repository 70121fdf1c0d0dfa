"""GET /metrics: this process's Prometheus metrics, for an admin's or auditor's bearer token
(a scraper's `authorization` credentials). Unauthenticated scrapes use the metrics port."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from portal.deps import CurrentUser
from portal.errors import Forbidden

router = APIRouter(tags=["health"])
SCRAPERS = frozenset({"admin", "auditor"})


@router.get("/metrics", include_in_schema=False)
def metrics(user: CurrentUser) -> Response:
    if user.role not in SCRAPERS:
        raise Forbidden("metrics are for the admin and auditor roles")
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
