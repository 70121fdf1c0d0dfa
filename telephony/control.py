"""The agent's control socket: HTTP on loopback, with a bearer token from a 0600 file.

`callvault calls list|pause|resume` are its clients (telephony.control_client). Requests are
served by a small pool of threads, each registered with pjlib once; every action runs on the
SIP thread through Agent.submit. A request must arrive whole, within READ_TIMEOUT_S and
MAX_REQUEST_BYTES, so an idle or slow client holds one worker for a few seconds at most and
never blocks the others. Expected failures (a client that went away, a timeout, a bad token)
are one log line, never a traceback.
"""

from __future__ import annotations

import concurrent.futures
import hmac
import io
import json
import logging
import secrets
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from storage.fsutil import atomic_write_bytes
from telephony.errors import TelephonyError

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 5.0  # the whole request (line and headers) must arrive within this
WRITE_TIMEOUT_S = 5.0
MAX_REQUEST_BYTES = 16 * 1024
SIP_THREAD_TIMEOUT_S = 10.0
WORKERS = 8


class RequestTooLarge(Exception):
    """The client sent more than MAX_REQUEST_BYTES before its request was complete."""


class _BoundedSocketIO(io.RawIOBase):
    """Reads a socket with a byte budget and one deadline for the whole request, checked on
    every recv (a per-recv timeout alone lets a client trickle a byte at a time forever)."""

    def __init__(self, sock: socket.socket, *, limit: int, timeout_s: float) -> None:
        self._sock = sock
        self._left = limit
        self._deadline = time.monotonic() + timeout_s

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"request not complete within {READ_TIMEOUT_S:g} s")
        if self._left <= 0:
            raise RequestTooLarge(f"request larger than {MAX_REQUEST_BYTES} bytes")
        self._sock.settimeout(remaining)
        view = memoryview(buffer)[: self._left]
        n = self._sock.recv_into(view)
        self._left -= n
        return n


class _PooledHTTPServer(HTTPServer):
    """HTTPServer whose connections are handled by a fixed pool of worker threads."""

    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        workers: int,
        initializer: Callable[[], None],
    ) -> None:
        # The pool first: HTTPServer.__init__ calls server_close() when binding fails, and
        # that must find a pool to shut, or an AttributeError hides the real error (the port).
        self._pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="control", initializer=initializer
        )
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self._pool.submit(self._process, request, client_address)

    def _process(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        log.debug("control: connection from %s ended: %s", client_address, _describe(exc))

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _describe(exc: BaseException | None) -> str:
    return f"{type(exc).__name__}: {exc}" if exc else "unknown error"


class ControlServer:
    """Routes: GET /calls, POST /calls/<id>/pause, POST /calls/<id>/resume."""

    def __init__(
        self,
        agent: Any,
        *,
        port: int,
        token_file: Path,
        register_thread: Callable[[], None] = lambda: None,
        workers: int = WORKERS,
    ) -> None:
        self.agent = agent
        self.token = secrets.token_urlsafe(24)
        self.token_file = token_file
        expected = f"Bearer {self.token}".encode()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def setup(self) -> None:
                super().setup()
                self.rfile = io.BufferedReader(
                    _BoundedSocketIO(
                        self.connection, limit=MAX_REQUEST_BYTES, timeout_s=READ_TIMEOUT_S
                    )
                )

            def handle(self) -> None:
                try:
                    super().handle()
                except RequestTooLarge as exc:
                    log.warning("control: refused a request from %s: %s", self.client_address, exc)
                    self._try_reply(431, {"error": str(exc)})
                except (TimeoutError, ConnectionError) as exc:
                    log.debug("control: client %s: %s", self.client_address, _describe(exc))

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("control: " + fmt, *args)

            def _try_reply(self, code: int, body: Any) -> None:
                try:
                    self._reply(code, body)
                except OSError as exc:
                    log.debug("control: reply to %s failed: %s", self.client_address, exc)

            def _reply(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.connection.settimeout(WRITE_TIMEOUT_S)
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True

            def _authorised(self) -> bool:
                given = (self.headers.get("Authorization") or "").encode("latin-1", "replace")
                return hmac.compare_digest(given, expected)

            def _handle(self, method: str) -> None:
                if not self._authorised():
                    self._reply(401, {"error": "missing or wrong control token"})
                    return
                if (self.headers.get("Content-Length") or "0").strip() != "0":
                    self._reply(413, {"error": "the control requests take no body"})
                    return
                parts = [p for p in self.path.split("/") if p]
                try:
                    if method == "GET" and parts == ["calls"]:
                        result = server._on_sip_thread(server.agent.list_calls)
                    elif (
                        method == "POST"
                        and len(parts) == 3
                        and parts[0] == "calls"
                        and parts[2] in ("pause", "resume")
                    ):
                        call_id = urllib.parse.unquote(parts[1])
                        resume = parts[2] == "resume"
                        result = server._on_sip_thread(
                            lambda: server.agent.pause(call_id, resume=resume)
                        )
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

        self._httpd = _PooledHTTPServer(
            ("127.0.0.1", port), Handler, workers=workers, initializer=register_thread
        )
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._serve, name="control", daemon=True)

    def _on_sip_thread(self, fn: Callable[[], Any]) -> Any:
        try:
            return self.agent.submit(fn).result(SIP_THREAD_TIMEOUT_S)
        except concurrent.futures.TimeoutError:
            raise TelephonyError(
                f"the SIP thread did not answer within {SIP_THREAD_TIMEOUT_S:g} s"
            ) from None

    def _serve(self) -> None:
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
