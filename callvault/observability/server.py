"""/metrics, /healthz and /readyz on a port of the process's own (a supervisor Component).

No authentication here: bind `metrics.host` to an interface only the monitoring system
reaches (the default is loopback). The portal also answers /metrics behind its own login.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger("callvault.metrics")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._json(200, {"status": "ok", "role": self.server.role})
        elif path == "/readyz":
            checks = self.server.ready()
            ok = all(v == "ok" for v in checks.values())
            self._json(
                200 if ok else 503, {"ready": ok, "role": self.server.role, "checks": checks}
            )
        else:
            self._json(404, {"detail": "not found; try /metrics, /healthz or /readyz"})

    def _json(self, status: int, doc: dict[str, Any]) -> None:
        self._send(status, json.dumps(doc).encode(), "application/json")

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return  # scrapes every few seconds would drown the log


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    role: str
    ready: Callable[[], dict[str, str]]


class MetricsServer:
    """Serves this process's registry until stopped; port 0 picks a free one (see `port`)."""

    def __init__(
        self, host: str, port: int, *, role: str, ready: Callable[[], dict[str, str]]
    ) -> None:
        self.host = host
        self._httpd = _Server((host, port), _Handler)
        self._httpd.role, self._httpd.ready = role, ready
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="metrics", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> list[str]:
        self._thread.start()
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return [
            f"metrics, /healthz and /readyz on http://{shown}:{self.port}/ ({self._httpd.role})"
        ]

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()
