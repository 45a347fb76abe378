"""The one client of the `tickets.v1.*` queues (contracts/client.py) over the real broker:
concurrent calls do not wait on each other, timeouts and cancellation leave nothing
behind, a late reply is dropped with a log line, an unreadable reply is a typed error."""

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aio_pika
import aio_pika.abc
import pytest

from contracts.actors import CustomerActor, SystemActor
from contracts.client import (
    TicketList,
    TicketRefused,
    TicketsClient,
    TicketServiceUnavailable,
    UnreadableReply,
)
from contracts.commands import CreateTicket, CustomerByPhone, GetTicket, ListTickets
from contracts.enums import Source
from contracts.tickets import Ticket
from tests.support.system import Endpoints, running, settings_for
from tests.support.tcp_proxy import tcp_proxy

pytestmark = pytest.mark.integration

Reply = Callable[[bytes], Awaitable[bytes | None]]
DELAY = 0.2
CALLS = 50


@asynccontextmanager
async def responder(url: str, answer: Reply) -> AsyncIterator[tuple[str, asyncio.Queue[bytes]]]:
    """A private queue whose consumer answers every request with `answer(body)` (None: no
    reply), each request in its own task; yields the queue name and the bodies received."""
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    queue = await channel.declare_queue(f"test.rpc.{uuid.uuid4().hex[:8]}", auto_delete=True)
    received: asyncio.Queue[bytes] = asyncio.Queue()
    tasks: set[asyncio.Task[None]] = set()

    async def one(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        received.put_nowait(message.body)
        body = await answer(message.body)
        if body is not None and message.reply_to:
            reply = aio_pika.Message(body, correlation_id=message.correlation_id)
            await channel.default_exchange.publish(reply, routing_key=message.reply_to)

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        task = asyncio.create_task(one(message))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    await queue.consume(on_message, no_ack=True)
    try:
        yield queue.name, received
    finally:
        for task in tasks:
            task.cancel()
        await connection.close()


def echo_after(delay: float) -> Reply:
    async def answer(body: bytes) -> bytes:
        await asyncio.sleep(delay)
        return json.dumps({"ok": True, "data": json.loads(body)}).encode()

    return answer


def echo_when(release: asyncio.Event) -> Reply:
    """Echoes each body once `release` is set; a body with `"hold": false` at once."""

    async def answer(body: bytes) -> bytes:
        if json.loads(body).get("hold", True):
            await release.wait()
        return json.dumps({"ok": True, "data": json.loads(body)}).encode()

    return answer


class Dropped(logging.Handler):
    """Sets `seen` when the client logs a reply it dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = asyncio.Event()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("reply dropped"):
            self.records.append(record)
            self.seen.set()


@asynccontextmanager
async def dropped_replies() -> AsyncIterator[Dropped]:
    handler, logger = Dropped(), logging.getLogger("contracts.client")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_fifty_concurrent_calls_take_about_one_responder_delay(
    endpoints: Endpoints,
) -> None:
    async with (
        responder(endpoints.rabbit_url, echo_after(DELAY)) as (queue, _),
        TicketsClient(endpoints.rabbit_url, timeout=30) as client,
    ):
        started = time.perf_counter()
        for n in range(5):
            assert (await client.request(queue, {"n": n}))["data"] == {"n": n}
        sequential = (time.perf_counter() - started) / 5

        started = time.perf_counter()
        replies = await asyncio.gather(*(client.request(queue, {"n": n}) for n in range(CALLS)))
        concurrent = time.perf_counter() - started

        assert [r["data"] for r in replies] == [{"n": n} for n in range(CALLS)]
        assert client.in_flight == 0
    # one at a time, 50 calls would take 50 sequential calls; together about one
    assert concurrent / sequential < 5, (concurrent, sequential)


async def test_a_timeout_leaves_nothing_and_its_late_reply_is_dropped_with_a_log_line(
    endpoints: Endpoints,
) -> None:
    release = asyncio.Event()
    async with (
        dropped_replies() as dropped,
        responder(endpoints.rabbit_url, echo_when(release)) as (queue, _),
        TicketsClient(endpoints.rabbit_url, timeout=30) as client,
    ):
        with pytest.raises(TicketServiceUnavailable, match=r"no reply within 0\.3s"):
            await client.request(queue, {"n": 1}, timeout=0.3)
        assert client.in_flight == 0
        release.set()
        await asyncio.wait_for(dropped.seen.wait(), 30)
        # the next call gets its own reply, never the stale one
        assert (await client.request(queue, {"hold": False, "n": 2}))["data"]["n"] == 2


async def test_a_cancelled_call_leaves_nothing_and_its_reply_is_dropped(
    endpoints: Endpoints,
) -> None:
    release = asyncio.Event()
    async with (
        dropped_replies() as dropped,
        responder(endpoints.rabbit_url, echo_when(release)) as (queue, received),
        TicketsClient(endpoints.rabbit_url, timeout=30) as client,
    ):
        call = asyncio.create_task(client.request(queue, {"n": 1}))
        await asyncio.wait_for(received.get(), 30)  # the request is at the responder
        assert client.in_flight == 1
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert client.in_flight == 0
        release.set()
        await asyncio.wait_for(dropped.seen.wait(), 30)
        assert dropped.records[0].__dict__["replyCorrelationId"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not json", "is not JSON"),
        (b"\xff\xfe", "is not JSON"),
        (b"[1, 2]", "not the {ok, ...} envelope"),
        (b'{"data": 1}', "not the {ok, ...} envelope"),
        (b'{"ok": false}', "a refusal without its error"),
        (b'{"ok": false, "error": {"message": "x"}}', "not the envelope"),
        (b'{"ok": true, "data": {"ticketId": 5}}', "is not a Ticket"),
        (b'{"ok": true, "data": null}', "is not a Ticket"),
    ],
)
async def test_an_unreadable_reply_is_a_typed_error(
    endpoints: Endpoints, body: bytes, error: str
) -> None:
    async def answer(_: bytes) -> bytes:
        return body

    command = GetTicket(actor=SystemActor(), ticket_id="TICKET-2026-000001")
    async with (
        responder(endpoints.rabbit_url, answer) as (queue, _),
        TicketsClient(endpoints.rabbit_url, timeout=30) as client,
    ):
        with pytest.raises(UnreadableReply, match=error):
            await client.call(queue, command, Ticket)
        assert client.in_flight == 0


async def test_a_refusal_carries_the_ticket_service_code_message_and_details(
    endpoints: Endpoints,
) -> None:
    refusal = {"code": "rate_limited", "message": "Slow down", "details": [{"retry": 5}]}

    async def answer(_: bytes) -> bytes:
        return json.dumps({"ok": False, "error": refusal}).encode()

    command = GetTicket(actor=SystemActor(), ticket_id="TICKET-2026-000001")
    async with (
        responder(endpoints.rabbit_url, answer) as (queue, _),
        TicketsClient(endpoints.rabbit_url, timeout=30) as client,
    ):
        with pytest.raises(TicketRefused) as refused:
            await client.call(queue, command, Ticket)
    assert (refused.value.code, refused.value.message) == ("rate_limited", "Slow down")
    assert refused.value.details == [{"retry": 5}]


async def test_a_queue_that_does_not_exist_fails_at_once_not_after_the_timeout(
    endpoints: Endpoints,
) -> None:
    async with TicketsClient(endpoints.rabbit_url, timeout=3600) as client:
        with pytest.raises(TicketServiceUnavailable, match="no such queue"):
            await client.request(f"test.missing.{uuid.uuid4().hex}", {"x": 1})
        assert client.in_flight == 0


async def test_a_lost_connection_ends_waiting_calls_and_the_next_call_connects_again(
    endpoints: Endpoints,
) -> None:
    release = asyncio.Event()
    async with (
        responder(endpoints.rabbit_url, echo_when(release)) as (queue, received),
        tcp_proxy(endpoints.rabbit_url) as proxy,
    ):
        client = TicketsClient(proxy.url_for(endpoints.rabbit_url), timeout=3600)
        try:
            calls = [asyncio.create_task(client.request(queue, {"n": n})) for n in range(3)]
            for _ in calls:
                await asyncio.wait_for(received.get(), 30)
            await proxy.cut()
            for call in calls:
                with pytest.raises(TicketServiceUnavailable):
                    await asyncio.wait_for(call, 60)
            assert client.in_flight == 0
            proxy.restore()
            release.set()
            assert (await client.request(queue, {"n": 9}))["data"] == {"n": 9}
        finally:
            await client.close()


async def test_typed_calls_against_the_ticket_service_in_parallel(
    endpoints: Endpoints, database: str
) -> None:
    settings = settings_for(endpoints, database)
    async with running(settings), TicketsClient(endpoints.rabbit_url, timeout=30) as client:
        customer = CustomerActor(phone="+34600000777")
        created = await asyncio.gather(
            *(
                client.create(
                    CreateTicket(
                        actor=customer,
                        title=f"Order {n} not delivered",
                        description="My order has not arrived yet.",
                        source=Source.AI,
                        customer=CustomerByPhone(phone="+34600000777"),
                        idempotency_key=f"client-test-{n}",
                    )
                )
                for n in range(10)
            )
        )
        ids = [t.ticket_id for t in created]
        assert len(set(ids)) == 10
        got = await asyncio.gather(
            *(client.get(GetTicket(actor=customer, ticket_id=i)) for i in ids * 3)
        )
        assert [t.ticket_id for t in got] == ids * 3
        listing = await client.list(ListTickets(actor=SystemActor(), limit=100))
        assert isinstance(listing, TicketList)
        assert {t.ticket_id for t in listing.items} == set(ids)
        other = CustomerActor(phone="+34600000778")
        with pytest.raises(TicketRefused) as refused:
            await client.get(GetTicket(actor=other, ticket_id=ids[0]))
        assert refused.value.code == "not_found"
