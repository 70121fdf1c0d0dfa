"""The agent's control socket: HTTP on loopback, with a bearer token from a 0600 file.

`callvault calls list|pause|resume` are its clients. Requests are served on one thread,
registered with pjlib, and every action runs on the SIP thread through Agent.submit.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from storage.fsutil import atomic_write_bytes
from telephony.errors import TelephonyError

log = logging.getLogger(__name__)
Route = Callable[[str], Any]


class ControlServer:
    """Routes: GET /calls, POST /calls/<id>/pause, POST /calls/<id>/resume."""

    def __init__(
        self,
        agent: Any,
        *,
        port: int,
        token_file: Path,
        register_thread: Callable[[], None] = lambda: None,
    ) -> None:
        self.agent = agent
        self.token = secrets.token_urlsafe(24)
        self.token_file = token_file
        self._register = register_thread
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("control: " + fmt, *args)

            def _reply(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                if self.headers.get("Authorization") != f"Bearer {server.token}":
                    self._reply(401, {"error": "missing or wrong control token"})
                    return
                parts = [p for p in self.path.split("/") if p]
                try:
                    if method == "GET" and parts == ["calls"]:
                        result = server.agent.submit(server.agent.list_calls).result(10)
                    elif (
                        method == "POST"
                        and len(parts) == 3
                        and parts[0] == "calls"
                        and parts[2] in ("pause", "resume")
                    ):
                        call_id = urllib.parse.unquote(parts[1])
                        resume = parts[2] == "resume"
                        result = server.agent.submit(
                            lambda: server.agent.pause(call_id, resume=resume)
                        ).result(10)
                    else:
                        self._reply(404, {"error": f"no route {method} {self.path}"})
                        return
                except TelephonyError as exc:
                    self._reply(409, {"error": str(exc)})
                    return
                self._reply(200, result)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        self._httpd = HTTPServer(("127.0.0.1", port), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._serve, name="control", daemon=True)

    def _serve(self) -> None:
        self._register()
        self._httpd.serve_forever(poll_interval=0.2)

    def start(self) -> None:
        atomic_write_bytes(
            self.token_file, json.dumps({"port": self.port, "token": self.token}).encode()
        )
        self.token_file.chmod(0o600)
        self._thread.start()
        log.info("control socket on http://127.0.0.1:%d (token in %s)", self.port, self.token_file)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self.token_file.unlink(missing_ok=True)


class ControlClient:
    def __init__(self, token_file: Path) -> None:
        try:
            info = json.loads(token_file.read_text())
        except FileNotFoundError:
            raise TelephonyError(
                f"no running agent: {token_file} is missing (start `callvault agent` or "
                "`callvault serve`)"
            ) from None
        self.base = f"http://127.0.0.1:{info['port']}"
        self.token = info["token"]

    def _call(self, method: str, path: str) -> Any:
        req = urllib.request.Request(  # noqa: S310 - the base is http://127.0.0.1
            self.base + path, method=method, headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(req, timeout=15) as r:  # noqa: S310 - loopback only
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", str(exc))
            except ValueError:
                message = str(exc)
            raise TelephonyError(message) from None
        except urllib.error.URLError as exc:
            raise TelephonyError(
                f"the agent at {self.base} is not answering: {exc.reason}"
            ) from None

    def calls(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/calls"))

    def pause(self, call_id: str, *, resume: bool = False) -> dict[str, Any]:
        action = "resume" if resume else "pause"
        return dict(self._call("POST", f"/calls/{urllib.parse.quote(call_id, safe='')}/{action}"))
