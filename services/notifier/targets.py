"""Which webhook targets the notifier may call: by default only public addresses, so an
admin-entered URL cannot reach loopback, link-local (cloud metadata) or private-network
services from inside the deployment (`TICKETS_NOTIFIER__WEBHOOK_ALLOW_PRIVATE_TARGETS`)."""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


def private_address(address: str) -> bool:
    """True for anything not globally routable: loopback, private, link-local, reserved."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return not ip.is_global


async def refused_target(url: str) -> str | None:
    """Why `url` may not be called, or None. A name that does not resolve is left to the
    HTTP client, which fails it as a retryable connection error."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return None
    private = sorted({str(info[4][0]) for info in found if private_address(str(info[4][0]))})
    if private:
        return f"target address not allowed: {host} -> {', '.join(private)}"
    return None
