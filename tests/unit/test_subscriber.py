"""The one subscriber helper (`infra/subscribers.py`) on the services' broker (inbox
middleware included), through FastStream's in-memory test broker."""

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faststream.rabbit import RabbitBroker, RabbitQueue, TestRabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from pydantic import ValidationError

from contracts import names
from contracts.base import StoredModel
from contracts.enums import ErrorCode
from infra import logging as log_context
from infra.inbox import REASON_HEADER
from infra.messaging import DEAD_LETTERS, command_queue, durable_queue, error_reply, make_broker
from infra.subscribers import subscriber

EVENTS_QUEUE = durable_queue("test.events")
COMMANDS_QUEUE = command_queue("test.commands")


class Noted(StoredModel):
    type: str
    ticket_id: str
    text: str


class Seen:
    def __init__(self) -> None:
        self.events: list[tuple[Noted, str | None, str | None]] = []
        self.letters: list[str] = []


def refused(error: ValidationError) -> dict[str, Any]:
    return error_reply(ErrorCode.VALIDATION, f"{error.error_count()} fields do not fit")


@pytest.fixture
async def system() -> AsyncIterator[tuple[RabbitBroker, Seen]]:
    broker = make_broker("amqp://guest:guest@localhost:5672/")
    seen = Seen()

    @subscriber(
        broker,
        EVENTS_QUEUE,
        Noted,
        unknown=lambda body: body.get("type") == "newer",
        failure="test event failed; requeued",
    )
    async def on_noted(event: Noted, _message: RabbitMessage) -> None:
        """Test events."""
        seen.events.append((event, log_context.ticket_id.get(), log_context.correlation_id.get()))
        if event.text == "fail":
            raise RuntimeError("storage away")

    @subscriber(broker, COMMANDS_QUEUE, Noted, refuse=refused)
    async def on_command(command: Noted, _message: RabbitMessage) -> dict[str, Any]:
        return {"ok": True, "data": {"ticketId": command.ticket_id}}

    async def as_bytes(message: Any) -> bytes:  # the letters are kept whatever they hold
        return bytes(message.body)

    @broker.subscriber(RabbitQueue(names.DEAD_LETTER_QUEUE), DEAD_LETTERS, decoder=as_bytes)
    async def dead_letter(message: RabbitMessage) -> None:
        seen.letters.append(str((message.headers or {}).get(REASON_HEADER)))

    async with TestRabbitBroker(broker) as test_broker:
        yield test_broker, seen


def lines(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == event]


async def test_a_valid_message_reaches_the_handler_typed_with_its_log_context(
    system: tuple[RabbitBroker, Seen],
) -> None:
    broker, seen = system
    body = {"type": "note", "ticketId": "TICKET-2026-000001", "text": "hola"}
    await broker.publish(json.dumps(body).encode(), queue=EVENTS_QUEUE, correlation_id="corr-7")
    assert seen.events == [
        (
            Noted(type="note", ticket_id="TICKET-2026-000001", text="hola"),
            "TICKET-2026-000001",
            "corr-7",
        )
    ]
    assert log_context.ticket_id.get() is None  # unbound after the message


async def test_an_invalid_body_is_dead_lettered_in_one_line_with_its_ticket_and_correlation(
    system: tuple[RabbitBroker, Seen], caplog: pytest.LogCaptureFixture
) -> None:
    broker, seen = system
    caplog.set_level(logging.INFO)
    body = {"type": "note", "ticketId": "TICKET-2026-000002"}  # no text
    await broker.publish(json.dumps(body).encode(), queue=EVENTS_QUEUE, correlation_id="corr-8")
    assert seen.events == []
    [line] = lines(caplog, "message dead-lettered")
    assert line.__dict__["ticketId"] == "TICKET-2026-000002"
    assert line.__dict__["correlationId"] == "corr-8"
    assert line.__dict__["queue"] == "test.events"
    assert line.__dict__["reason"].startswith("not a valid Noted: ")
    assert "text" in line.__dict__["reason"]
    assert seen.letters == [line.__dict__["reason"]]


async def test_a_message_of_a_newer_kind_is_skipped_not_dead_lettered(
    system: tuple[RabbitBroker, Seen], caplog: pytest.LogCaptureFixture
) -> None:
    broker, seen = system
    caplog.set_level(logging.INFO)
    await broker.publish({"type": "newer", "what": 1}, queue=EVENTS_QUEUE)
    assert seen.events == []
    assert lines(caplog, "message dead-lettered") == []
    assert seen.letters == []
    assert len(lines(caplog, "message kind not handled")) == 1


async def test_a_request_that_does_not_fit_is_answered_with_the_refusal(
    system: tuple[RabbitBroker, Seen], caplog: pytest.LogCaptureFixture
) -> None:
    broker, _ = system
    good = await broker.request({"type": "c", "ticketId": "T-1", "text": "x"}, queue=COMMANDS_QUEUE)
    bad = await broker.request({"type": "c"}, queue=COMMANDS_QUEUE)
    assert await good.decode() == {"ok": True, "data": {"ticketId": "T-1"}}
    assert await bad.decode() == {
        "ok": False,
        "error": {"code": "validation", "message": "2 fields do not fit"},
    }
    assert lines(caplog, "message dead-lettered") == []


async def test_a_body_that_is_no_json_object_never_reaches_a_handler(
    system: tuple[RabbitBroker, Seen], caplog: pytest.LogCaptureFixture
) -> None:
    broker, seen = system
    await broker.publish(b"[1, 2]", queue=EVENTS_QUEUE, correlation_id="corr-9")
    assert seen.events == []
    [line] = lines(caplog, "message dead-lettered")
    assert line.__dict__["reason"] == "Message body is JSON list, not an object"
    assert seen.letters == [line.__dict__["reason"]]
    assert "ticketId" not in line.__dict__


async def test_a_failing_handler_is_logged_once_and_its_message_given_back(
    system: tuple[RabbitBroker, Seen], caplog: pytest.LogCaptureFixture
) -> None:
    broker, seen = system
    body = {"type": "note", "ticketId": "TICKET-2026-000003", "text": "fail"}
    with pytest.raises(RuntimeError, match="storage away"):
        await broker.publish(
            json.dumps(body).encode(), queue=EVENTS_QUEUE, correlation_id="corr-10"
        )
    [line] = lines(caplog, "test event failed; requeued")
    assert line.exc_info is not None
    assert len(seen.events) == 1
    assert seen.letters == []
