"""The Socket.IO server agents' UIs connect to: authenticated on connect, then placed in
the rooms the push table addresses."""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import engineio
import socketio

from contracts.enums import AgentRole
from infra.auth import InvalidToken, bearer_token
from infra.gate import Failures, Refusal
from infra.identity import AgentIdentity, Authenticator
from services.notifier import metrics
from services.notifier.domain.pushes import ADMINS, Push, rooms_of

log = logging.getLogger(__name__)

UNAUTHORIZED = "Unauthorized: a valid agent bearer token is required"
UNAVAILABLE = "Unavailable: the agent could not be checked, try again"
TOO_MANY_FAILURES = "Too many failed authentication attempts; retry in {wait} seconds"
TOO_MANY_CONNECTIONS = "Too many connections for this agent (at most {limit}); close one"

FailureCounter = Callable[[str, str], Failures]
"""(client address, fingerprint of the token) -> the failed-authentication counters."""


def token_of(environ: dict[str, Any], auth: object) -> str | None:
    """`auth: {token}` from the Socket.IO handshake, else the Authorization header."""
    if isinstance(auth, dict) and isinstance(auth.get("token"), str):
        token: str = auth["token"]
        return token.removeprefix("Bearer ").strip() or None
    header = environ.get("HTTP_AUTHORIZATION")
    if header is None:
        return None
    try:
        return bearer_token(header)
    except InvalidToken:
        return None


def allowed_origins(setting: str) -> str | list[str] | None:
    """Empty: same origin only (python-socketio's default); `*`: any; else the list."""
    if not setting.strip():
        return None
    if setting.strip() == "*":
        return "*"
    return [origin.strip() for origin in setting.split(",") if origin.strip()]


class FanOutManager(socketio.AsyncManager):  # type: ignore[misc]
    """python-socketio's manager, except that a push without an acknowledgement callback
    is queued on each recipient's socket in one pass, encoded once: no task per recipient
    (the stock manager makes one each and waits for them all; at 200 clients that was
    about a tenth of the notifier's time per push). Queuing never waits, the Engine.IO
    queues being unbounded; each socket's own writer task sends. Pushes also keep their
    order per client, which the task per recipient did not promise."""

    async def emit(
        self,
        event: str,
        data: object,
        namespace: str,
        room: object = None,
        skip_sid: object = None,
        callback: object = None,
        **kwargs: object,
    ) -> None:
        if callback is not None or skip_sid is not None or namespace not in self.rooms:
            await super().emit(event, data, namespace, room, skip_sid, callback, **kwargs)
            return
        encoded = self.server.packet_class(
            socketio.packet.EVENT, namespace=namespace, data=[event, data]
        ).encode()
        messages = [
            engineio.packet.Packet(engineio.packet.MESSAGE, part)
            for part in (encoded if isinstance(encoded, list) else [encoded])
        ]
        for _sid, eio_sid in self.get_participants(namespace, room):
            for message in messages:
                await self.server.eio.send_packet(eio_sid, message)


class PushServer:
    def __init__(self, cors_origins: str, authenticator: Callable[[], Authenticator]) -> None:
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            cors_allowed_origins=allowed_origins(cors_origins),
            logger=False,
            engineio_logger=False,
            client_manager=FanOutManager(),
        )
        self._authenticator = authenticator
        self._connected: dict[str, AgentIdentity] = {}
        self.max_per_agent = 10
        self.failures: FailureCounter | None = None
        """Set at start: the REST gate's failed-authentication limits, shared."""
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)

    @property
    def connected(self) -> int:
        return len(self._connected)

    @property
    def pending(self) -> int:
        """Engine.IO sessions on this instance that have not authenticated (yet)."""
        return max(0, len(self.sio.eio.sockets) - len(self._connected))

    async def _connect(self, sid: str, environ: dict[str, Any], auth: object = None) -> None:
        token = token_of(environ, auth)
        failures = self._failures(environ, token)
        try:
            if failures is not None:
                await failures.check()
            agent = await self._authenticator().agent(token)
        except Refusal as refusal:
            raise _refused(refusal.message) from refusal
        except InvalidToken as error:
            log.info("socket refused", extra={"reason": str(error)})
            wait = await failures.count() if failures is not None else None
            message = TOO_MANY_FAILURES.format(wait=wait) if wait else UNAUTHORIZED
            raise _refused(message) from error
        except Exception as error:  # the agents store failed: refuse now, not time out
            log.exception("socket authentication failed")
            raise socketio.exceptions.ConnectionRefusedError(UNAVAILABLE) from error
        if sum(held.id == agent.id for held in self._connected.values()) >= self.max_per_agent:
            raise _refused(TOO_MANY_CONNECTIONS.format(limit=self.max_per_agent))
        for room in rooms_of(agent.id, admin=agent.admin):
            await self.sio.enter_room(sid, room)
        self._connected[sid] = agent
        metrics.CONNECTED_CLIENTS.inc()
        log.info("socket connected", extra={"agentId": agent.id, "role": str(agent.role)})

    def _failures(self, environ: dict[str, Any], token: str | None) -> Failures | None:
        if self.failures is None or token is None:
            return None
        client = environ.get("asgi.scope", {}).get("client")
        address = str(client[0]) if client else "unknown"
        fingerprint = hashlib.sha256(f"socket\n{token}".encode()).hexdigest()[:24]
        return self.failures(address, fingerprint)

    async def _disconnect(self, sid: str, _reason: object = None) -> None:
        if self._connected.pop(sid, None) is not None:
            metrics.CONNECTED_CLIENTS.dec()

    def agent_ids(self) -> set[str]:
        return {agent.id for agent in self._connected.values()}

    async def revalidate(self, now: int, roles: dict[str, AgentRole]) -> int:
        """Ends the sessions whose token expired or whose agent is gone or inactive, and
        moves a changed role in or out of `admins`. Returns how many were ended."""
        ended = 0
        for sid, agent in list(self._connected.items()):
            expired = agent.expires_at <= now
            ended += await self._apply(sid, agent, None if expired else roles.get(agent.id))
        return ended

    async def apply_role(self, agent_id: str, role: AgentRole | None) -> int:
        """One agent's new role (None: no longer active) on their sessions here."""
        ended = 0
        for sid, agent in list(self._connected.items()):
            if agent.id == agent_id:
                ended += await self._apply(sid, agent, role)
        return ended

    async def _apply(self, sid: str, agent: AgentIdentity, role: AgentRole | None) -> int:
        if role is None:
            await self.sio.disconnect(sid)
            return 1
        if role is not agent.role:
            change = self.sio.enter_room if role is AgentRole.ADMIN else self.sio.leave_room
            await change(sid, ADMINS)
            self._connected[sid] = replace(agent, role=role)
        return 0

    async def emit(self, push: Push) -> None:
        await self.sio.emit(push.event, push.payload, to=list(push.rooms))
        metrics.PUSHES.labels(push.event).inc()

    async def close(self) -> None:
        """Drops every client (they reconnect to another instance)."""
        for sid in list(self._connected):
            await self.sio.disconnect(sid)


def _refused(message: str) -> socketio.exceptions.ConnectionRefusedError:
    metrics.REFUSED_CONNECTIONS.inc()
    return socketio.exceptions.ConnectionRefusedError(message)
