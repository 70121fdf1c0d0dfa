"""The client of the agent's control socket (telephony.control), for `callvault calls …`.

It speaks the few lines of HTTP/1.0 that socket needs over a plain TCP connection to
127.0.0.1: http.client (or urllib) would cost a `callvault calls pause` more CPU to import
than the rest of the command together, and that command runs while a caller is on the line.
"""

from __future__ import annotations

import json
import socket
import urllib.parse
from pathlib import Path
from typing import Any

from telephony.errors import TelephonyError

MAX_RESPONSE_BYTES = 8 * 1024 * 1024
TIMEOUT_S = 15.0


class ControlClient:
    """Talks to the agent whose port and token are in ``token_file``."""

    def __init__(self, token_file: Path, *, timeout_s: float = TIMEOUT_S) -> None:
        try:
            info = json.loads(token_file.read_text())
            self.port = int(info["port"])
            self.token = str(info["token"])
        except FileNotFoundError:
            raise TelephonyError(
                f"no running agent: {token_file} is missing (start `callvault agent` or "
                "`callvault serve`)"
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TelephonyError(f"{token_file} is unreadable: {exc}") from None
        self.base = f"http://127.0.0.1:{self.port}"
        self.timeout_s = timeout_s

    def calls(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/calls"))

    def pause(self, call_id: str, *, resume: bool = False) -> dict[str, Any]:
        action = "resume" if resume else "pause"
        return dict(self._call("POST", f"/calls/{urllib.parse.quote(call_id, safe='')}/{action}"))

    def _call(self, method: str, path: str) -> Any:
        request = (
            f"{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Length: 0\r\n\r\n"
        ).encode("ascii")
        try:
            with socket.create_connection(("127.0.0.1", self.port), self.timeout_s) as sock:
                sock.sendall(request)
                raw = _read_to_end(sock)
        except TimeoutError:
            raise TelephonyError(
                f"the agent at {self.base} did not answer within {self.timeout_s:g} s"
            ) from None
        except OSError as exc:
            raise TelephonyError(f"the agent at {self.base} is not answering: {exc}") from None
        status, body = _parse(raw, self.base)
        try:
            doc = json.loads(body)
        except ValueError:
            raise TelephonyError(
                f"the agent at {self.base} sent a reply that is not JSON"
            ) from None
        if status != 200:
            message = doc.get("error") if isinstance(doc, dict) else None
            raise TelephonyError(str(message or f"the agent answered HTTP {status}"))
        return doc


def _read_to_end(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := sock.recv(65536):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise TelephonyError(f"the agent's reply is larger than {MAX_RESPONSE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(raw: bytes, base: str) -> tuple[int, bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    fields = head.split(b"\r\n", 1)[0].split(b" ", 2)
    if not sep or len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
        raise TelephonyError(f"the agent at {base} sent no valid HTTP reply")
    return int(fields[1]), body
