"""Where a webhook may be sent: http(s) URLs whose host resolves only to public addresses,
unless `[webhooks] allow_private` (SSRF: a webhook must not reach the council's own network,
the cloud metadata service or this machine). Checked when an endpoint is added and again
before every delivery (DNS may have changed)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from storage.errors import CallvaultError


class TargetRefused(CallvaultError):
    pass


def check_target(url: str, *, allow_private: bool) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(f"webhook URL {url!r}: must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise TargetRefused("webhook URL: credentials in the URL are not allowed")
    if len(url) > 2000:
        raise TargetRefused("webhook URL: longer than 2000 characters")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"webhook URL {url!r}: host does not resolve ({exc})") from None
    for info in infos:
        addr = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not allow_private and not addr.is_global:
            raise TargetRefused(
                f"webhook URL {url!r}: {parts.hostname} resolves to {addr}, a private, loopback "
                "or reserved address (set [webhooks] allow_private = true to allow it)"
            )
    return url
