"""Who a request came from when the web server sits behind a reverse proxy.

Only proxies named in `[web] trusted_proxies` are believed: from such a peer the client is the
rightmost `X-Forwarded-For` address that is not itself a trusted proxy, and the request came over
https when the proxy says so in `X-Forwarded-Proto`. From anyone else both headers are ignored, so a
client cannot pick the address its sign-in failures are counted under.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from aiohttp import web

UNKNOWN = "unknown"


class TrustedProxies:
    def __init__(self, networks: Iterable[str] = ()) -> None:
        self._networks: tuple[IPv4Network | IPv6Network, ...] = tuple(
            ip_network(network, strict=False) for network in networks
        )

    def client(self, request: web.Request) -> str:
        """The client's address: the peer's, or the one a trusted proxy forwarded."""
        peer = request.remote or UNKNOWN
        if not self._trusted(peer):
            return peer
        hops = [
            hop.strip() for line in request.headers.getall("X-Forwarded-For", []) for hop in line.split(",")
        ]
        for hop in reversed([hop for hop in hops if hop]):
            if not self._trusted(hop):
                return hop if _is_address(hop) else UNKNOWN
        return peer

    def https(self, request: web.Request) -> bool:
        """Whether the browser's connection was https: this one, or the trusted proxy's in front."""
        if request.secure:
            return True
        if not self._trusted(request.remote or UNKNOWN):
            return False
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
        return proto == "https"

    def _trusted(self, address: str) -> bool:
        if not self._networks or not _is_address(address):
            return False
        parsed = ip_address(address)
        return any(parsed in network for network in self._networks)


def _is_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True
