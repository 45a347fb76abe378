"""The one client of the ticket service's `tickets.v1.*` request/reply queues: typed
commands from `contracts.commands` in, typed replies out, any number of calls in flight.
The assistant gateway, the SLA monitor, `tickets migrate`, the tests and outside callers
all use it.

Dependencies: pydantic, aio-pika and this `contracts` package, nothing of the server, so
the contracts distribution ships it as is. FastStream's `broker.request` is not used: it
holds one lock per broker, so fifty concurrent calls to a 20 ms service take a second.

How it works, and what each failure leaves:

- One AMQP connection and channel per client, opened at the first call (and again at the
  next call after it is lost). Replies come through RabbitMQ's direct reply-to
  (`amq.rabbitmq.reply-to`): no reply queue to declare, so a broker user needs only to
  publish on the default exchange. Each call's correlation id is its own; a reply is
  matched to its call by it.
- Every call has a timeout (the client's default, or its own). The command is published
  with an expiration of that timeout, so a command nobody took in time (the ticket
  service down or swamped) is never run after its caller gave up. A timeout raises
  `TicketServiceUnavailable`; a cancelled call simply ends. Either way the call leaves no
  entry behind, and a reply that comes later is dropped with a log line.
- A queue that does not exist is known at once (the broker returns the command):
  `TicketServiceUnavailable`. A lost connection ends every waiting call the same way.
- The reply is read defensively: not JSON, not the `{ok, data | error}` envelope, or
  data that is not the command's reply type is `UnreadableReply` (a kind of
  `TicketServiceUnavailable`), never a JSON or validation error. `{"ok": false}` is
  `TicketRefused` with the ticket service's code, message and details.
- The caller's correlation id for logs (its own, or `trace()`'s) travels in the
  `x-correlation-id` header, so the ticket service logs the command under it.
"""

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from types import TracebackType
from typing import Any, Self, TypedDict, Unpack

import aio_pika
import aio_pika.abc
import aio_pika.exceptions
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts import names
from contracts.base import WireModel
from contracts.commands import (
    AddNote,
    AssignTicket,
    ChangeStatus,
    CreateTicket,
    CustomerMessage,
    EscalatePriority,
    GetTicket,
    ListTickets,
    MarkFirstResponse,
    RateTicket,
    RecordSlaBreach,
    UnassignTicket,
    UpdateTicket,
)
from contracts.conversation import RecordMessages, RecordOutcome
from contracts.replies import CustomerMessageOutcome, TicketPagination
from contracts.tickets import Ticket

log = logging.getLogger(__name__)

DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"
CORRELATION_HEADER = "x-correlation-id"
DEFAULT_TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 5.0
CONNECTION_ERRORS = aio_pika.exceptions.CONNECTION_EXCEPTIONS


class TicketClientError(Exception):
    """Anything a call to the ticket service can end with besides its reply."""


class TicketServiceUnavailable(TicketClientError):
    """No reply in time, no queue, no connection: nothing is known to have happened
    (a command with an idempotency key can be sent again)."""


class UnreadableReply(TicketServiceUnavailable):
    """A reply came but is not the envelope, or its data not the command's reply type."""


class TicketRefused(TicketClientError):
    """The ticket service answered `{ok: false}`: a typed refusal, nothing was changed."""

    def __init__(self, code: str, message: str, details: list[dict[str, Any]] | None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details or []


class CallOptions(TypedDict, total=False):
    timeout: float | None
    """Seconds to wait for the reply (the client's default when left out)."""
    correlation_id: str | None
    """The id the ticket service logs the command under (else the client's `trace()`)."""


class TicketList(BaseModel):
    """`tickets.v1.list` data, typed."""

    model_config = ConfigDict(extra="ignore")

    items: list[Ticket]
    pagination: TicketPagination


class _Error(BaseModel):
    code: str = Field(min_length=1)
    message: str = ""
    details: list[dict[str, Any]] | None = None


class _Envelope(BaseModel):
    """Lenient on purpose: a code this client does not know is still a refusal."""

    ok: bool
    data: Any = None
    error: _Error | None = None


class RequestReplyClient:
    """Concurrent request/reply over any durable command queue; `request` answers the
    reply's envelope as a dict (for callers that send raw bodies, such as tests)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        trace: Callable[[], str | None] | None = None,
    ) -> None:
        self._url = url
        self.timeout = timeout
        self._connect_timeout = connect_timeout
        self._trace = trace
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._connecting = asyncio.Lock()

    @property
    def in_flight(self) -> int:
        """Calls waiting for their reply now."""
        return len(self._pending)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        """Connect now rather than at the first call (optional)."""
        await self._ready()

    async def close(self) -> None:
        async with self._connecting:
            await self._drop(TicketServiceUnavailable("the client was closed"))

    async def request(
        self,
        queue: str,
        body: bytes | dict[str, Any],
        **options: Unpack[CallOptions],
    ) -> dict[str, Any]:
        """The reply envelope (`{"ok": ...}`) as a dict; raises TicketServiceUnavailable
        (UnreadableReply when the reply is not a JSON object with `ok`)."""
        reply = await self._exchange(
            queue, body, options.get("timeout"), options.get("correlation_id")
        )
        return _envelope(queue, reply)

    async def _exchange(
        self,
        queue: str,
        body: bytes | dict[str, Any],
        timeout: float | None,
        correlation_id: str | None,
    ) -> bytes:
        limit = self.timeout if timeout is None else timeout
        key = uuid.uuid4().hex
        try:
            async with asyncio.timeout(limit):
                channel = await self._ready()
                answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
                self._pending[key] = answer
                await self._publish(channel, queue, body, key, limit, correlation_id)
                return await answer
        except TimeoutError:
            raise TicketServiceUnavailable(f"{queue}: no reply within {limit:g}s") from None
        finally:
            self._pending.pop(key, None)

    async def _publish(
        self,
        channel: aio_pika.abc.AbstractChannel,
        queue: str,
        body: bytes | dict[str, Any],
        key: str,
        limit: float,
        correlation_id: str | None,
    ) -> None:
        trace = correlation_id or (self._trace() if self._trace is not None else None)
        message = aio_pika.Message(
            body if isinstance(body, bytes) else json.dumps(body).encode(),
            content_type="application/json",
            correlation_id=key,
            reply_to=DIRECT_REPLY_TO,
            expiration=timedelta(seconds=limit),
            headers={CORRELATION_HEADER: trace or key},
        )
        try:
            await channel.default_exchange.publish(message, routing_key=queue, mandatory=True)
        except aio_pika.exceptions.PublishError as error:
            raise TicketServiceUnavailable(f"{queue}: no such queue ({error})") from None
        except CONNECTION_ERRORS as error:
            raise TicketServiceUnavailable(f"{queue}: not sent ({error!r})") from None

    async def _ready(self) -> aio_pika.abc.AbstractChannel:
        async with self._connecting:
            if self._channel is not None and not self._channel.is_closed:
                return self._channel
            await self._drop(TicketServiceUnavailable("the connection to RabbitMQ was lost"))
            try:
                self._connection = await aio_pika.connect(self._url, timeout=self._connect_timeout)
                channel = await self._connection.channel(on_return_raises=True)
                replies = await channel.get_queue(DIRECT_REPLY_TO, ensure=False)
                await replies.consume(self._on_reply, no_ack=True)
            except CONNECTION_ERRORS as error:
                await self._drop(TicketServiceUnavailable("RabbitMQ is not reachable"))
                raise TicketServiceUnavailable(f"RabbitMQ is not reachable ({error!r})") from None
            channel.close_callbacks.add(self._on_channel_closed)
            self._channel = channel
            return channel

    async def _on_reply(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        answer = self._pending.get(message.correlation_id or "")
        if answer is None or answer.done():
            log.info(
                "reply dropped: its call timed out or was cancelled",
                extra={"replyCorrelationId": message.correlation_id, "bytes": len(message.body)},
            )
            return
        answer.set_result(message.body)

    def _on_channel_closed(self, _: object, error: BaseException | None = None) -> None:
        self._fail_pending(TicketServiceUnavailable(f"the connection was lost ({error!r})"))

    def _fail_pending(self, error: TicketServiceUnavailable) -> None:
        for answer in self._pending.values():
            if not answer.done():
                answer.set_exception(error)

    async def _drop(self, error: TicketServiceUnavailable) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        self._fail_pending(error)
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


def _envelope(queue: str, body: bytes) -> dict[str, Any]:
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise UnreadableReply(f"{queue}: the reply is not JSON ({error})") from None
    if not isinstance(decoded, dict) or not isinstance(decoded.get("ok"), bool):
        raise UnreadableReply(f"{queue}: the reply is not the {{ok, ...}} envelope")
    return decoded


class TicketsClient(RequestReplyClient):
    """The typed calls, one per command queue; each returns the reply's data as its model
    or raises TicketRefused / TicketServiceUnavailable."""

    async def call[R: BaseModel](
        self,
        queue: str,
        command: WireModel,
        reply: type[R],
        **options: Unpack[CallOptions],
    ) -> R:
        envelope = await self.request(queue, command.to_wire(), **options)
        data = _data(queue, envelope)
        try:
            return reply.model_validate(data)
        except ValidationError as error:
            raise UnreadableReply(
                f"{queue}: the reply is not a {reply.__name__}: {error}"
            ) from None

    async def create(self, command: CreateTicket, **options: Unpack[CallOptions]) -> Ticket:
        return await self.call(names.CREATE, command, Ticket, **options)

    async def get(self, command: GetTicket, **options: Unpack[CallOptions]) -> Ticket:
        return await self.call(names.GET, command, Ticket, **options)

    async def list(self, command: ListTickets, **options: Unpack[CallOptions]) -> TicketList:
        return await self.call(names.LIST, command, TicketList, **options)

    async def assign(self, command: AssignTicket, **options: Unpack[CallOptions]) -> Ticket:
        return await self.call(names.ASSIGN, command, Ticket, **options)

    async def unassign(self, command: UnassignTicket, **options: Unpack[CallOptions]) -> Ticket:
        return await self.call(names.UNASSIGN, command, Ticket, **options)

    async def change_status(self, command: ChangeStatus, **options: Unpack[CallOptions]) -> Ticket:
        return await self.call(names.CHANGE_STATUS, command, Ticket, **options)

    async def add_note(self, command: AddNote, **options: Unpack[CallOptions]) -> Ticket:
        return await self.call(names.ADD_NOTE, command, Ticket, **options)

    async def mark_first_response(
        self, command: MarkFirstResponse, **options: Unpack[CallOptions]
    ) -> Ticket:
        return await self.call(names.MARK_FIRST_RESPONSE, command, Ticket, **options)

    async def rate(self, command: RateTicket, **options: Unpack[CallOptions]) -> Ticket:
        return await self.call(names.RATE, command, Ticket, **options)

    async def escalate_priority(
        self, command: EscalatePriority, **options: Unpack[CallOptions]
    ) -> Ticket:
        return await self.call(names.ESCALATE_PRIORITY, command, Ticket, **options)

    async def update(self, command: UpdateTicket, **options: Unpack[CallOptions]) -> Ticket:
        return await self.call(names.UPDATE, command, Ticket, **options)

    async def customer_message(
        self, command: CustomerMessage, **options: Unpack[CallOptions]
    ) -> CustomerMessageOutcome:
        return await self.call(names.CUSTOMER_MESSAGE, command, CustomerMessageOutcome, **options)

    async def record_sla_breach(
        self, command: RecordSlaBreach, **options: Unpack[CallOptions]
    ) -> Ticket:
        return await self.call(names.RECORD_SLA_BREACH, command, Ticket, **options)

    async def record_messages(
        self, command: RecordMessages, **options: Unpack[CallOptions]
    ) -> RecordOutcome:
        return await self.call(names.RECORD_MESSAGES, command, RecordOutcome, **options)


def _data(queue: str, envelope: dict[str, Any]) -> Any:
    try:
        parsed = _Envelope.model_validate(envelope)
    except ValidationError as error:
        raise UnreadableReply(f"{queue}: the reply is not the envelope: {error}") from None
    if parsed.ok:
        return parsed.data
    if parsed.error is None:
        raise UnreadableReply(f"{queue}: a refusal without its error")
    raise TicketRefused(parsed.error.code, parsed.error.message, parsed.error.details)


__all__ = [
    "CallOptions",
    "RequestReplyClient",
    "TicketClientError",
    "TicketList",
    "TicketRefused",
    "TicketServiceUnavailable",
    "TicketsClient",
    "UnreadableReply",
]
