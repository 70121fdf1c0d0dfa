"""The whole role x endpoint matrix, as one parametrised test (bearer tokens, real server).

admin is the first user a new install has, so it can find, play and audit (not download)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.portal.conftest import Site

ROLES = ("sup-housing", "sup-waste", "qa-all", "dpo", "auditor", "admin", "platform")
FORM = {"reason_code": "quality", "reason": "matrix", "case_id": "MATRIX-1"}
DPO_ONLY = (403, 403, 403, 200, 403, 403, 403)
DPO_BAD_INPUT = (403, 403, 403, 400, 403, 403, 403)
DPO_NOT_FOUND = (403, 403, 403, 404, 403, 403, 403)
HOOKS_ONLY = (403, 403, 403, 403, 403, 403, 200)
ON_RECORDING = (403, 404, 403, 400, 403, 403, 403)  # sup-waste cannot see the housing call
DISCLOSE_BODY = {"recipient": "", "kind": "", "basis": "", "reference": "", "reason": ""}
# endpoint -> (method, path, body kind (or a JSON body), expected status per role, ROLES order)
MATRIX: dict[str, tuple[str, str, Any, tuple[int, ...]]] = {
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
    # Data-subject rights (issue 11): the dpo alone. The dpo's requests are refused as bad
    # input (400: no reason, no recipient) so that the matrix never restricts or discloses.
    "disclosures page": ("GET", "/disclosures", None, DPO_ONLY),
    "disclosure form": ("GET", "/disclosures/new", None, DPO_ONLY),
    "record disclosure": ("POST", "/disclosures", "empty-form", DPO_BAD_INPUT),
    "restrict (form)": ("POST", "/recordings/{id}/restrict", "empty-form", ON_RECORDING),
    "unrestrict (form)": ("POST", "/recordings/{id}/unrestrict", "empty-form", ON_RECORDING),
    "rectify (form)": ("POST", "/recordings/{id}/rectify", "empty-form", ON_RECORDING),
    "api disclosures": ("GET", "/api/v1/disclosures", None, DPO_ONLY),
    "api disclose": ("POST", "/api/v1/disclosures", DISCLOSE_BODY, DPO_BAD_INPUT),
    "api restrict": ("POST", "/api/v1/recordings/{id}/restrict", {"reason": ""}, ON_RECORDING),
    "api unrestrict": (
        "POST",
        "/api/v1/recordings/{id}/unrestrict",
        {"reason": ""},
        ON_RECORDING,
    ),
    "api rectify": ("POST", "/api/v1/recordings/{id}/rectify", {"reason": ""}, ON_RECORDING),
    # Data-subject requests: the dpo alone; the dpo's calls are bad input or name no request.
    "requests page": ("GET", "/requests", None, DPO_ONLY),
    "open request (form)": ("POST", "/requests", "empty-form", DPO_BAD_INPUT),
    "request page": ("GET", "/requests/SR-NONE", None, DPO_NOT_FOUND),
    "request pack (form)": ("POST", "/requests/SR-NONE/pack", "empty-form", DPO_NOT_FOUND),
    "approve (form)": ("POST", "/requests/SR-NONE/approve", "empty-form", DPO_NOT_FOUND),
    "api requests": ("GET", "/api/v1/requests", None, DPO_ONLY),
    "api open request": ("POST", "/api/v1/requests", {"kind": ""}, DPO_BAD_INPUT),
    "api request": ("GET", "/api/v1/requests/SR-NONE", None, DPO_NOT_FOUND),
    "api verify": ("POST", "/api/v1/requests/SR-NONE/verify", {"how": "x"}, DPO_NOT_FOUND),
    "api erase": ("POST", "/api/v1/requests/SR-NONE/erase", {"reason": "x"}, DPO_NOT_FOUND),
    "api approve": ("POST", "/api/v1/requests/SR-NONE/approve", {}, DPO_NOT_FOUND),
    "api restrict request": (
        "POST",
        "/api/v1/requests/SR-NONE/restrict",
        {"reason": "x"},
        DPO_NOT_FOUND,
    ),
    "api pack": ("POST", "/api/v1/requests/SR-NONE/pack", {}, DPO_NOT_FOUND),
    # the platform hooks: platform tokens only (portal/hooks/auth.py)
    "hook decision": ("POST", "/hooks/v1/incoming-call", "hook", HOOKS_ONLY),
    "hook upload": ("POST", "/hooks/v1/recordings", "json", (*HOOKS_ONLY[:6], 400)),
    "hook status": ("GET", "/hooks/v1/recordings/{id}", None, (*HOOKS_ONLY[:6], 404)),
    "hook event": ("POST", "/hooks/v1/calls/no-such-call/events", "event", (*HOOKS_ONLY[:6], 404)),
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
    elif kind == "empty-form":
        kwargs["data"] = {"reason": ""}
    elif isinstance(kind, dict):
        kwargs["json"] = kind
    elif kind == "hook":
        kwargs["json"] = {"platform_call_id": f"matrix-{role}", "caller": None, "dialled": "1"}
    elif kind == "event":
        kwargs["json"] = {"type": "hangup"}
    elif kind == "json":
        kwargs["json"] = {"reason": "matrix"} if "access" in path else {"service": "housing"}
    with httpx.Client(base_url=site.base, headers=headers, timeout=30) as c:
        r = c.request(method, url, **kwargs)  # type: ignore[arg-type]
    assert r.status_code == expected, r.text[:300]
    if expected == 404:
        assert r.headers["content-type"] == "application/problem+json"
