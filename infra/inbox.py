"""What every consumer of every service does with a message before and around its handler.

Installed once on the broker (`make_broker`), so no subscriber can forget it:

- a message delivered `delivery_limit` times already (the quorum queue's
  `x-delivery-count` header) goes to the dead letters with its count, unhandled;
- the body must be a JSON object of at most `max_body_bytes`: anything else (not UTF-8,
  not JSON, nested too deeply to parse, `null`, a list, too large) is a `PoisonMessage`;
- a `PoisonMessage`, raised here or by a handler, is published to the dead-letter
  exchange with the reason in its headers (`x-dead-letter-reason`, `x-original-queue`,
  `x-delivery-count`) and acknowledged, never requeued; a request/reply caller gets a
  `validation` reply at once. A private live copy (an exclusive queue, such as a
  notifier's push queue) is only logged: the shared queues beside it keep the letter;
- a handler that fails otherwise (a dependency is down) has its message go back to the
  queue after a pause that doubles with each delivery, so an outage is no hot loop.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from faststream import BaseMiddleware, ContextRepo
from faststream.message import StreamMessage
from faststream.rabbit import RabbitBroker

from contracts import names
from contracts.client import CORRELATION_HEADER
from contracts.enums import ErrorCode
from contracts.replies import ErrorBody, ErrorReply
from infra.metrics import count_dead_letter

log = logging.getLogger(__name__)

REASON_HEADER = "x-dead-letter-reason"
QUEUE_HEADER = "x-original-queue"
COUNT_HEADER = "x-delivery-count"
RETRY_PAUSE_SECONDS = 0.5
RETRY_PAUSE_MAX_SECONDS = 30.0


def error_reply(
    code: ErrorCode, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return ErrorReply(error=ErrorBody(code=code, message=message, details=details)).model_dump(
        mode="json", exclude_none=True
    )


class PoisonMessage(Exception):
    """This message can never be handled: it goes to the dead letters with this reason,
    which is also the `validation` reply's message when a caller waits."""


class RequeueNow(Exception):
    """Give the message back without the retry pause (the service is stopping)."""


def parse_object(body: bytes, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object, or PoisonMessage saying why not."""
    if len(body) > max_bytes:
        raise PoisonMessage(f"Message body of {len(body)} bytes is over the limit of {max_bytes}")
    try:
        value = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise PoisonMessage(
            f"Message body is not UTF-8 ({error.reason} at byte {error.start})"
        ) from None
    except RecursionError:
        raise PoisonMessage("Message body is JSON nested too deeply to read") from None
    except ValueError as error:
        raise PoisonMessage(f"Message body is not JSON ({error})") from None
    if not isinstance(value, dict):
        kind = "null" if value is None else type(value).__name__
        raise PoisonMessage(f"Message body is JSON {kind}, not an object")
    return value


async def payload(message: StreamMessage[Any]) -> dict[str, Any]:
    """The decoded body a handler works on (the inbox already refused anything else)."""
    decoded = await message.decode()
    if not isinstance(decoded, dict):
        raise PoisonMessage("Message body is not a JSON object")
    return decoded


def correlation_of(message: StreamMessage[Any]) -> str | None:
    """The id to log a message under: the caller's (`x-correlation-id`, which the tickets
    client sends), else the message's correlation or message id."""
    given = (message.headers or {}).get(CORRELATION_HEADER)
    if isinstance(given, str) and given:
        return given[:200]
    return message.correlation_id or message.message_id or None


def ticket_of(body: dict[str, Any]) -> str | None:
    """The ticket a message is about, to log it under (None when it does not say)."""
    found = body.get("ticketId", body.get("ticket_id"))
    return found if isinstance(found, str) and found else None


async def _body_or_nothing(message: StreamMessage[Any]) -> dict[str, Any]:
    try:
        return await payload(message)
    except PoisonMessage:
        return {}


def delivery_count(message: StreamMessage[Any]) -> int:
    """Earlier deliveries of this message (0 on queues that do not count them)."""
    value = (message.headers or {}).get(COUNT_HEADER, 0)
    return value if isinstance(value, int) and value >= 0 else 0


def retry_pause(deliveries: int) -> float:
    return float(min(RETRY_PAUSE_MAX_SECONDS, RETRY_PAUSE_SECONDS * 2 ** min(deliveries, 16)))


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    max_body_bytes: int
    delivery_limit: int


class Inbox:
    """The broker-wide decoder and middleware; `attach` gives it the broker to publish
    dead letters through."""

    def __init__(self, policy: DeliveryPolicy) -> None:
        self.policy = policy
        self._broker: RabbitBroker | None = None

    def attach(self, broker: RabbitBroker) -> None:
        self._broker = broker

    async def decode(self, message: StreamMessage[Any]) -> dict[str, Any]:
        return parse_object(message.body, self.policy.max_body_bytes)

    def middleware(self, msg: Any, /, *, context: ContextRepo) -> BaseMiddleware:
        return _Guard(msg, context=context, inbox=self)

    async def set_aside(self, message: StreamMessage[Any], queue: Any, reason: str) -> None:
        """Dead-letter the message, or only log it when `queue` is a private live copy of
        a fan-out (exclusive): the shared queues bound beside it keep the evidence once."""
        name = str(getattr(queue, "name", "") or "")
        count = delivery_count(message) + 1
        if not getattr(queue, "exclusive", False):
            await self._dead_letter(message, name, reason, count)
            count_dead_letter(message, name)
        extra: dict[str, Any] = {
            "queue": name,
            "reason": reason[:300],
            "deliveries": count,
            "correlationId": correlation_of(message),
            "bytes": len(message.body),
        }
        ticket = ticket_of(await _body_or_nothing(message))
        if ticket is not None:
            extra["ticketId"] = ticket
        log.warning(
            "message dead-lettered"
            if not getattr(queue, "exclusive", False)
            else "message dropped",
            extra=extra,
        )

    async def _dead_letter(
        self, message: StreamMessage[Any], queue: str, reason: str, count: int
    ) -> None:
        """A copy with the reason, confirmed by the broker before the original is acked."""
        assert self._broker is not None, "Inbox.attach(broker) was not called"
        headers = {
            **(message.headers or {}),
            REASON_HEADER: reason[:500],
            QUEUE_HEADER: queue,
            COUNT_HEADER: count,
        }
        await self._broker.publish(
            message.body,
            exchange=names.DEAD_LETTER_EXCHANGE,
            routing_key=queue,
            headers=headers,
            correlation_id=message.correlation_id,
            message_id=message.message_id,
            content_type=message.content_type,
            persist=True,
        )


class _Guard(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: ContextRepo, inbox: Inbox) -> None:
        super().__init__(msg, context=context)
        self._inbox = inbox

    async def consume_scope(
        self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        deliveries = delivery_count(msg)
        limit = self._inbox.policy.delivery_limit
        if deliveries >= limit:
            await self._inbox.set_aside(msg, self._queue(), f"delivered {deliveries + 1} times")
            return error_reply(
                ErrorCode.INTERNAL, f"The message failed {limit} times and was set aside"
            )
        try:
            await msg.decode()
            return await call_next(msg)
        except PoisonMessage as error:
            await self._inbox.set_aside(msg, self._queue(), str(error))
            return error_reply(ErrorCode.VALIDATION, str(error))
        except RequeueNow:
            raise
        except Exception:
            await asyncio.sleep(retry_pause(deliveries))
            raise

    def _queue(self) -> Any:
        """The subscriber's RabbitQueue (its name and whether it is exclusive)."""
        return getattr(self.context.get_local("handler_"), "queue", None)
