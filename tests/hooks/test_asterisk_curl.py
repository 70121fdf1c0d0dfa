"""The decision as Asterisk's dialplan CURL(url,post-data) sends it: a form-encoded POST from
libcurl (User-Agent asterisk-libcurl-agent/1.0, the bearer token added with
CURLOPT(httpheader)), sent here byte for byte over a socket to the real server, and again by
the curl command (the same libcurl)."""

from __future__ import annotations

import json
import socket
import subprocess
import uuid
from typing import Any
from urllib.parse import quote, urlsplit

from sqlalchemy import select

from storage.catalogue.models import ConsentRecordRow
from tests.hooks.conftest import HOUSING_LINE, LISTED, HookSite


def asterisk_curl(
    site: HookSite, post_data: str, ctype: str = "application/x-www-form-urlencoded"
) -> tuple[int, dict[str, Any]]:
    """One request exactly as func_curl's libcurl writes it; returns (status, json body)."""
    u = urlsplit(site.base)
    body = post_data.encode()
    head = (
        "POST /hooks/v1/incoming-call HTTP/1.1\r\n"
        f"Host: {u.netloc}\r\n"
        "User-Agent: asterisk-libcurl-agent/1.0\r\n"
        "Accept: */*\r\n"
        f"Authorization: Bearer {site.tokens['pbx']}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Content-Type: {ctype}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.sendall(head + body)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(payload)


def uriencode(value: str) -> str:
    """Asterisk's URIENCODE(): everything but unreserved characters percent-encoded."""
    return quote(value, safe="-_.~")


def test_a_form_encoded_decision_is_the_json_one(hook_site: HookSite) -> None:
    call_id = f"{uuid.uuid4().int % 10**10}.42"  # ${UNIQUEID}
    post = (
        f"platform_call_id={uriencode(call_id)}&caller={uriencode('+441277312999')}"
        f"&dialled={uriencode(HOUSING_LINE)}"
    )
    status, body = asterisk_curl(hook_site, post)
    assert status == 200, body
    assert body["record"] is False and "do-not-record" in body["reason"]  # LISTED, in E.164
    assert (body["notice"]["id"], body["notice"]["version"]) == ("housing", "4")
    assert body["objection_digit"] == "9"
    svc = hook_site.services()
    try:
        with svc.catalogue.session() as s:
            [row] = s.scalars(select(ConsentRecordRow).where(ConsentRecordRow.call_id == call_id))
        assert json.loads(row.document)["outcome"] == "do-not-record"
    finally:
        svc.close()
    # ${CALLERID(num)} empty (withheld): recorded, with the catch-all notice
    status, withheld = asterisk_curl(
        hook_site, f"platform_call_id={uuid.uuid4().hex}&caller=&dialled=0800"
    )
    assert status == 200 and withheld["record"] is True
    assert withheld["notice"]["id"] == "customer-service"


def test_the_curl_command_sends_the_same_shape(hook_site: HookSite) -> None:
    """curl -d is libcurl's default form POST, as func_curl makes it."""
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "-A",
            "asterisk-libcurl-agent/1.0",
            "-H",
            f"Authorization: Bearer {hook_site.tokens['pbx']}",
            "-d",
            f"platform_call_id=curl-{uuid.uuid4().hex}&caller={uriencode(LISTED)}&dialled=1",
            "-w",
            "\n%{http_code}",
            hook_site.base + "/hooks/v1/incoming-call",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    payload, code = out.rsplit("\n", 1)
    assert code == "200", payload
    assert json.loads(payload)["record"] is False  # national form with spaces, as typed


def test_bad_form_bodies_are_problems_naming_the_field(hook_site: HookSite) -> None:
    status, missing = asterisk_curl(hook_site, "caller=%2B441277312500&dialled=1")
    assert status == 400 and "platform_call_id" in missing["detail"]
    status, unknown = asterisk_curl(hook_site, "platform_call_id=a1&callerid=%2B441277312500")
    assert status == 400 and "callerid" in unknown["detail"]
    status, twice = asterisk_curl(hook_site, "platform_call_id=a1&platform_call_id=a2")
    assert status == 400 and "platform_call_id" in twice["detail"]
    status, long = asterisk_curl(hook_site, "platform_call_id=" + "x" * 300)
    assert status == 400 and "platform_call_id" in long["detail"]
    status, other = asterisk_curl(hook_site, "platform_call_id=a1", ctype="text/plain")
    assert status == 415 and "form-urlencoded" in other["detail"]
    assert "1277312500" not in hook_site.log.read_text()
