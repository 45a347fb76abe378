"""The ticket-service commands the monitor sends, over the real request/reply queues."""

import json
import uuid
from datetime import datetime
from typing import Any

from faststream.rabbit import RabbitBroker

from contracts import names
from contracts.actors import SystemActor
from contracts.base import WireModel
from contracts.commands import ChangeStatus, GetTicket, ListTickets, RecordSlaBreach
from contracts.enums import SlaKind, TicketStatus
from contracts.tickets import Ticket
from infra import logging as log_context

Reply = dict[str, Any]
RESYNC_PAGE = 100
AUTO_CLOSE_REASON = "auto-closed: no reply from the customer within the quiet period"


class TicketCommandFailed(Exception):
    """The ticket service answered `internal` (or nothing): try again later."""


class TicketClient:
    def __init__(self, broker: RabbitBroker, timeout: float) -> None:
        self._broker = broker
        self._timeout = timeout

    async def _call(self, queue: str, command: WireModel) -> Reply:
        reply = await self._broker.request(
            json.dumps(command.to_wire()).encode(),
            queue=queue,
            timeout=self._timeout,
            content_type="application/json",
            correlation_id=log_context.correlation_id.get() or uuid.uuid4().hex,
        )
        decoded: Reply = json.loads(reply.body)
        if not decoded.get("ok") and decoded.get("error", {}).get("code") == "internal":
            raise TicketCommandFailed(str(decoded["error"]))
        return decoded

    async def record_breach(
        self, ticket_id: str, kind: SlaKind, due_at: Any, detected_at: Any, *, escalate: bool
    ) -> Reply:
        command = RecordSlaBreach(
            actor=SystemActor(),
            ticket_id=ticket_id,
            kind=kind,
            due_at=due_at,
            detected_at=detected_at,
            escalate_priority=escalate,
        )
        return await self._call(names.RECORD_SLA_BREACH, command)

    async def get(self, ticket_id: str) -> Ticket | None:
        reply = await self._call(names.GET, GetTicket(actor=SystemActor(), ticket_id=ticket_id))
        return Ticket.model_validate(reply["data"]) if reply.get("ok") else None

    async def open_page(self, created_from: datetime | None, page: int) -> list[Reply]:
        """Open tickets (resolved included) created at or after `created_from`, oldest
        first, `RESYNC_PAGE` at a time."""
        command = ListTickets(
            actor=SystemActor(),
            open_only=True,
            created_from=created_from,
            sort="createdAt",
            page=page,
            limit=RESYNC_PAGE,
        )
        reply = await self._call(names.LIST, command)
        if not reply.get("ok"):
            raise TicketCommandFailed(str(reply.get("error")))
        items: list[Reply] = reply["data"]["items"]
        return items

    async def close(self, ticket: Ticket) -> Reply:
        command = ChangeStatus(
            actor=SystemActor(),
            ticket_id=ticket.ticket_id,
            status=TicketStatus.CLOSED,
            reason=AUTO_CLOSE_REASON,
            expected_revision=ticket.revision,
        )
        return await self._call(names.CHANGE_STATUS, command)
