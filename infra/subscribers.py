"""One way for every subscriber to take its message, so a handler only does its work.

`subscriber(registrar, queue, contract, ...)` registers `handler(command, message)` on a
FastStream router or broker (titled after the queue unless told otherwise) and, before
the handler runs:

- binds the log context: the correlation id (`correlation_of`) and the ticket id, read
  from the body's `ticketId` first so a message refused as invalid is logged under it too;
- validates the decoded body (the broker-wide inbox, `infra/inbox.py`, has already
  refused anything that is not a JSON object) against the pydantic `contract`;
- refuses a body that does not fit: by default a `PoisonMessage`, so the inbox
  dead-letters it with the reason in one log line (and answers `validation` to a caller
  who waits); with `refuse`, the reply `refuse(error)` is answered instead (request/reply
  queues whose callers are told which fields were wrong); with `unknown(body)` true, a
  body of a kind newer than the contract is acknowledged and skipped;
- with `failure`, logs a handler's unexpected error with that line before it is
  requeued (after the inbox's growing pause; `AckPolicy.NACK_ON_ERROR` unless the
  subscriber says otherwise, so a message that keeps failing reaches the inbox's
  delivery limit and is set aside with its count).

Redelivered and duplicate messages are the handlers' to absorb: each consumer's writes are
conditional on the event id or the ticket's revision (tests/faults/test_events_twice.py).
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from faststream import AckPolicy
from faststream.rabbit import RabbitExchange, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from pydantic import TypeAdapter, ValidationError

from infra import logging as log_context
from infra.inbox import PoisonMessage, RequeueNow, correlation_of, payload, ticket_of

log = logging.getLogger(__name__)

Body = dict[str, Any]
Handler = Callable[[Any, RabbitMessage], Awaitable[Any]]
REASON_CHARS = 500


class Registrar(Protocol):
    """A FastStream RabbitRouter or RabbitBroker."""

    def subscriber(self, queue: RabbitQueue, *args: Any, **kwargs: Any) -> Any: ...


def subscriber[M](
    registrar: Registrar,
    queue: RabbitQueue,
    contract: type[M] | TypeAdapter[M],
    exchange: RabbitExchange | None = None,
    *,
    refuse: Callable[[ValidationError], Any] | None = None,
    unknown: Callable[[Body], bool] | None = None,
    failure: str | None = None,
    **options: Any,
) -> Callable[[Callable[[M, RabbitMessage], Awaitable[Any]]], Any]:
    """A decorator registering the handler; it returns FastStream's subscriber."""
    adapter: TypeAdapter[M] = (
        contract if isinstance(contract, TypeAdapter) else TypeAdapter(contract)
    )
    name = getattr(contract, "__name__", None) or str(adapter.core_schema.get("type", "message"))
    options.setdefault("title", queue.name)
    options.setdefault("ack_policy", AckPolicy.NACK_ON_ERROR)
    registered = registrar.subscriber(queue, *([exchange] if exchange else []), **options)

    def register(handler: Callable[[M, RabbitMessage], Awaitable[Any]]) -> Any:
        async def handle(message: RabbitMessage) -> Any:
            body = await payload(message)
            log_context.correlation_id.set(correlation_of(message))
            token = log_context.ticket_id.set(ticket_of(body))
            try:
                try:
                    command = adapter.validate_python(body)
                except ValidationError as error:
                    return _refused(error, body, name, refuse, unknown, message)
                log_context.ticket_id.set(getattr(command, "ticket_id", None) or ticket_of(body))
                return await _run(handler, command, message, failure)
            finally:
                log_context.ticket_id.reset(token)

        handle.__name__ = handle.__qualname__ = handler.__name__
        handle.__doc__ = handler.__doc__
        registered(handle)
        return registered

    return register


def _refused(
    error: ValidationError,
    body: Body,
    name: str,
    refuse: Callable[[ValidationError], Any] | None,
    unknown: Callable[[Body], bool] | None,
    message: RabbitMessage,
) -> Any:
    if unknown is not None and unknown(body):
        log.info("message kind not handled", extra={"routingKey": _routing_key(message)})
        return None
    if refuse is not None:
        return refuse(error)
    problems = error.errors(include_url=False, include_input=False)
    raise PoisonMessage(f"not a valid {name}: {str(problems)[:REASON_CHARS]}") from None


async def _run(handler: Handler, command: Any, message: RabbitMessage, failure: str | None) -> Any:
    try:
        return await handler(command, message)
    except (PoisonMessage, RequeueNow):
        raise
    except Exception:
        if failure is not None:  # under the handler's logger, as if it logged it itself
            logging.getLogger(handler.__module__).exception(failure)
        raise


def _routing_key(message: RabbitMessage) -> str | None:
    raw = getattr(message, "raw_message", None)
    return getattr(raw, "routing_key", None)
