"""The ticket service as its clients see it (the assistant gateway, `tickets migrate`):
request/reply over RabbitMQ, never imports."""

import json
import logging
import uuid
from typing import Any

from faststream.rabbit import RabbitBroker

from infra import logging as log_context

log = logging.getLogger(__name__)


class TicketServiceUnavailable(Exception):
    """No reply in time, or a reply that is not the envelope."""


class TicketRefused(Exception):
    """The ticket service answered `{ok: false}`: a typed refusal, nothing was changed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TicketCommands:
    def __init__(self, broker: RabbitBroker, timeout: float) -> None:
        self._broker = broker
        self._timeout = timeout

    async def send(self, queue: str, command: dict[str, Any]) -> Any:
        """The reply's `data`; raises TicketRefused or TicketServiceUnavailable.

        The request expires when we stop waiting for it: a command nobody took in time
        (the ticket service down or swamped) is never executed after its caller gave up."""
        try:
            reply = await self._broker.request(
                json.dumps(command).encode(),
                queue=queue,
                timeout=self._timeout,
                expiration=self._timeout,
                content_type="application/json",
                correlation_id=log_context.correlation_id.get() or uuid.uuid4().hex,
            )
            envelope = json.loads(reply.body)
        except TimeoutError as error:
            raise TicketServiceUnavailable(f"{queue}: no reply in {self._timeout}s") from error
        except (ValueError, UnicodeDecodeError) as error:
            raise TicketServiceUnavailable(f"{queue}: reply is not JSON") from error
        if not isinstance(envelope, dict) or "ok" not in envelope:
            raise TicketServiceUnavailable(f"{queue}: reply is not an envelope")
        if envelope["ok"] is True:
            return envelope.get("data")
        refusal = envelope.get("error") or {}
        raise TicketRefused(str(refusal.get("code", "internal")), str(refusal.get("message", "")))
