"""Which webhook targets the notifier may call, and where exactly it connects.

A URL is checked in full when it is registered (`parse_target`: http(s), a host, a port in
1-65535, no user:password, no IPv6 zone id). Before each delivery its host is resolved
once; every address it resolves to must be public (loopback, private, link-local such as
cloud metadata, and reserved ranges are refused unless
`TICKETS_NOTIFIER__WEBHOOK_ALLOW_PRIVATE_TARGETS`), a name that does not resolve is
refused, and the request then goes to one of those checked addresses, with the name in
the `Host` header and in TLS (SNI and certificate check). Nothing resolves the name a
second time, so a DNS answer that changes between the check and the connection (DNS
rebinding) cannot redirect the request.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""(host, port) -> the addresses it resolves to now (empty: it does not resolve)."""

DEFAULT_PORTS = {"http": 80, "https": 443}


class TargetRefused(Exception):
    """A URL the notifier will not call; the message goes to the delivery's lastError."""


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed, valid webhook URL."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def host_header(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return shown if DEFAULT_PORTS[self.scheme] == self.port else f"{shown}:{self.port}"

    def url_at(self, address: str) -> str:
        """The same URL with the host replaced by one checked address."""
        shown = f"[{address}]" if ":" in address else address
        return f"{self.scheme}://{shown}:{self.port}{self.path}"


def parse_target(url: str) -> Target:
    """Raises ValueError naming what is wrong with the URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError("url must be an absolute http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("url must not carry a user or password")
    host = parts.hostname or ""
    if not host:
        raise ValueError("url must name a host")
    if "%" in host:
        raise ValueError("url must not carry an IPv6 zone id")
    _check_host(host)
    return Target(parts.scheme, host, _port(parts), _path(parts))


def _port(parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError as error:
        raise ValueError("url port must be a number from 1 to 65535") from error
    if port == 0:
        raise ValueError("url port must be a number from 1 to 65535")
    return port or DEFAULT_PORTS[parts.scheme]


def _path(parts: SplitResult) -> str:
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def _check_host(host: str) -> None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return
    try:
        encoded = host.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise ValueError("url host is not a valid host name") from error
    labels = encoded.rstrip(".").split(".")
    if len(encoded) > 253 or not all(_label(label) for label in labels):
        raise ValueError("url host is not a valid host name")


def _label(label: str) -> bool:
    stripped = label.replace("-", "").replace("_", "")
    return 0 < len(label) <= 63 and stripped.isalnum() and not label.startswith("-")


def private_address(address: str) -> bool:
    """True for anything not globally routable: loopback, private, link-local, reserved."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global


async def system_resolver(host: str, port: int) -> list[str]:
    """getaddrinfo, in its order (the system's address preference); empty when the name
    does not resolve."""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in found))


async def checked_addresses(
    target: Target, resolver: Resolver, *, allow_private: bool
) -> list[str]:
    """Resolves the host once; raises TargetRefused unless every address may be called."""
    addresses = await resolver(target.host, target.port)
    if not addresses:
        raise TargetRefused(f"target host does not resolve: {target.host}")
    zoned = [address for address in addresses if "%" in address]
    if zoned:
        raise TargetRefused(f"target address not allowed: {target.host} -> {zoned[0]}")
    private = sorted(address for address in addresses if private_address(address))
    if private and not allow_private:
        raise TargetRefused(f"target address not allowed: {target.host} -> {', '.join(private)}")
    return addresses
