"""The whole role x endpoint matrix, as one parametrised test (bearer tokens, real server).

admin is the first user a new install has, so it can find, play and audit (not download)."""

from __future__ import annotations

import httpx
import pytest

from tests.portal.conftest import Site

ROLES = ("sup-housing", "sup-waste", "qa-all", "dpo", "auditor", "admin", "platform")
FORM = {"reason_code": "quality", "reason": "matrix", "case_id": "MATRIX-1"}
# endpoint -> (method, path, body kind, expected status per role, in ROLES order)
MATRIX = {
    "search page": ("GET", "/search", None, (200, 200, 200, 200, 403, 200, 403)),
    "recording page": ("GET", "/recordings/{id}", None, (200, 404, 200, 200, 403, 200, 403)),
    "waveform": ("GET", "/recordings/{id}/waveform.svg", None, (200, 404, 200, 200, 403, 200, 403)),
    "play (form)": ("POST", "/recordings/{id}/access", "form", (303, 404, 303, 303, 403, 303, 403)),
    "download": ("POST", "/recordings/{id}/download", "form", (403, 404, 403, 200, 403, 403, 403)),
    "add case ID": (
        "POST",
        "/recordings/{id}/case-ids",
        "form",
        (303, 404, 403, 303, 403, 303, 403),
    ),
    "audit page": ("GET", "/audit", None, (403, 403, 403, 200, 200, 200, 403)),
    "api list": ("GET", "/api/v1/recordings", None, (200, 200, 200, 200, 403, 200, 403)),
    "api consent-only": (
        "GET",
        "/api/v1/recordings?outcome=objected",
        None,
        (403, 403, 403, 200, 403, 200, 403),
    ),
    "api show": ("GET", "/api/v1/recordings/{id}", None, (200, 404, 200, 200, 403, 200, 403)),
    "api search": (
        "POST",
        "/api/v1/recordings/search",
        "json",
        (200, 200, 200, 200, 403, 200, 403),
    ),
    "api access": (
        "POST",
        "/api/v1/recordings/{id}/access",
        "json",
        (200, 404, 200, 200, 403, 200, 403),
    ),
    "api audit": ("GET", "/api/v1/audit", None, (403, 403, 403, 200, 200, 200, 403)),
}
CASES = [
    pytest.param(role, endpoint, spec[3][i], id=f"{role}-{endpoint}")
    for endpoint, spec in MATRIX.items()
    for i, role in enumerate(ROLES)
]


@pytest.mark.parametrize(("role", "endpoint", "expected"), CASES)
def test_role_endpoint_matrix(site: Site, role: str, endpoint: str, expected: int) -> None:
    method, path, kind, _ = MATRIX[endpoint]
    url = path.format(id=site.housing)
    headers = {"Authorization": f"Bearer {site.tokens[role]}"}
    kwargs: dict[str, object] = {}
    if kind == "form":
        kwargs["data"] = FORM
    elif kind == "json":
        kwargs["json"] = {"reason": "matrix"} if "access" in path else {"service": "housing"}
    with httpx.Client(base_url=site.base, headers=headers, timeout=30) as c:
        r = c.request(method, url, **kwargs)  # type: ignore[arg-type]
    assert r.status_code == expected, r.text[:300]
    if expected == 404:
        assert r.headers["content-type"] == "application/problem+json"
