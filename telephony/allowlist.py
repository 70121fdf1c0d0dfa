"""Who may call the agent: `[sip] allowed_sources`, addresses and CIDR networks (stdlib
ipaddress). Empty allows every source (one node on its own, as before); behind Kamailio it
holds the proxy's address and the trunk's, and every other INVITE is answered 403.

A refused source is logged once a minute (an address, never a caller's number).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from telephony.errors import TelephonyError

LOG_EVERY = timedelta(minutes=1)


class SourceAllowlist:
    def __init__(self, sources: tuple[str, ...], field: str = "sip.allowed_sources") -> None:
        self.networks = []
        for s in sources:
            try:
                self.networks.append(ipaddress.ip_network(s.strip(), strict=False))
            except ValueError:
                raise TelephonyError(
                    f"{field}: {s!r} is not an IP address or CIDR network"
                ) from None
        self._logged: dict[str, datetime] = {}

    def admits(self, source: str) -> bool:
        return not self.networks or self.matches(source)

    def matches(self, source: str) -> bool:
        """The source is in one of the listed networks (never, when the list is empty)."""
        try:
            addr = ipaddress.ip_address(source.strip("[]"))
        except ValueError:
            return False
        return any(addr in net for net in self.networks)

    def refused(self, source: str, now: datetime) -> str | None:
        """The log line for a refused INVITE, at most once a minute per source."""
        last = self._logged.get(source)
        if last is not None and now - last < LOG_EVERY:
            return None
        self._logged[source] = now
        return f"refusing INVITEs from {source} with 403: not in sip.allowed_sources"
