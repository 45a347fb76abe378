"""The one thing a stranger can make on the notifier without a token is an Engine.IO
session (the handshake before Socket.IO authenticates). New sessions are capped per client
address per minute, and in total while they have not authenticated, before python-socketio
creates them: past a cap the handshake answers 429 (an address over its rate) or 503
(too many unauthenticated sessions) with `Retry-After`, or a websocket close 1013.

Counted in memory per instance (a handshake and its session live on one instance).
"""

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from infra.rest import envelope_bytes
from services.notifier import metrics

log = logging.getLogger(__name__)

WINDOW = timedelta(minutes=1)
PRUNE_ABOVE = 10_000
"""Addresses remembered before old ones are swept out."""


@dataclass(frozen=True, slots=True)
class Refused:
    status: int
    code: str
    message: str
    retry_after: int


class HandshakeGuard:
    def __init__(
        self,
        app: ASGIApp,
        pending: Callable[[], int],
        limits: Callable[[], tuple[int, int]],
        now: Callable[[], datetime],
    ) -> None:
        """`pending`: sessions not yet authenticated; `limits`: (handshakes per address
        per minute, pending sessions at most), read per request (settings come at start)."""
        self.app = app
        self._pending = pending
        self._limits = limits
        self._now = now
        self._recent: dict[str, deque[datetime]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _new_session(scope):
            refused = self._admit(_address(scope))
            if refused is not None:
                metrics.REFUSED_CONNECTIONS.inc()
                log.info("socket handshake refused", extra={"reason": refused.message})
                await _refuse(scope, receive, send, refused)
                return
        await self.app(scope, receive, send)

    def _admit(self, address: str) -> Refused | None:
        per_address, max_pending = self._limits()
        now = self._now()
        recent = self._recent.setdefault(address, deque())
        while recent and recent[0] <= now - WINDOW:
            recent.popleft()
        if len(recent) >= per_address:
            wait = max(1, int((recent[0] + WINDOW - now).total_seconds()) + 1)
            return Refused(429, "rate_limited", "Too many Socket.IO handshakes", wait)
        if self._pending() >= max_pending:
            return Refused(503, "unavailable", "Too many unauthenticated connections", 5)
        recent.append(now)
        if len(self._recent) > PRUNE_ABOVE:
            self._prune(now)
        return None

    def _prune(self, now: datetime) -> None:
        for address, times in list(self._recent.items()):
            if not times or times[-1] <= now - WINDOW:
                del self._recent[address]


def _new_session(scope: Scope) -> bool:
    """A Socket.IO request without a session id: a handshake (polling or websocket)."""
    if scope["type"] not in ("http", "websocket"):
        return False
    if not str(scope.get("path", "")).startswith("/socket.io"):
        return False
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    return not any(part.startswith("sid=") for part in query.split("&"))


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def _refuse(scope: Scope, receive: Receive, send: Send, refused: Refused) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1013, "reason": refused.message})
        return
    body = envelope_bytes(refused.code, refused.message)
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"retry-after", str(refused.retry_after).encode()),
    ]
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
