"""create_ticket_report through the assistant gateway, as a ratio of the raw floor.

Round trip measured: a client sends `{customer, tool_calls: [create_ticket_report]}` on
`assistant.v1.tool_calls`; the gateway parses, calls `tickets.v1.create`, the ticket
service writes the ticket, and both replies travel back.

Floor, measured in the same run on the same broker and Mongo server: two bare RabbitMQ
request/replies to a responder that answers at once (the two hops: caller -> gateway,
gateway -> ticket service), plus the same database commands the two services send for
one call, done raw with PyMongo one after the other: the gateway's customer language
read and its budget's one conditional update, then the ticket service's create (the
customer's admission update, the idempotency read, the yearly sequence, the ticket
insert, the outbox mark). The events the create publishes are left to their consumers in
both (the statistics rollups, for one, run after the reply). A ratio near 1 means the
services add little beyond the unavoidable hops and commands.

    .venv/bin/python -m bench.bench_tool_call [--iterations 200] [--max-seconds 120]
"""

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage

from bench.suite import Result
from contracts import names
from infra.logging import configure_logging
from infra.mongo import MongoClient, connect
from infra.runtime import Runtime
from infra.settings import Settings
from services.assistant_gateway.main import AssistantGateway
from services.ticket_service.main import TicketService
from tests.support.infra import mongo_server, rabbit_vhost

CREATE = {
    "title": "Order not delivered",
    "description": "My order #12345 has not arrived after two weeks.",
    "category": None,
    "priority": None,
}


@dataclass(frozen=True)
class Results:
    iterations: int
    rpc_ms: float
    writes_ms: float
    gateway_ms: float

    @property
    def floor_ms(self) -> float:
        return 2 * self.rpc_ms + self.writes_ms

    @property
    def ratio(self) -> float:
        return self.gateway_ms / self.floor_ms


async def _timed(
    work: Callable[[int], Awaitable[None]], iterations: int, deadline: float
) -> list[float]:
    samples: list[float] = []
    for i in range(iterations):
        if samples and time.monotonic() > deadline:
            break
        start = time.perf_counter()
        await work(i)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def _raw_body(message: RabbitMessage) -> bytes:
    """The floor parses nothing."""
    return message.body


async def _bare_rpc(rabbit_url: str, iterations: int, deadline: float) -> list[float]:
    broker = RabbitBroker(rabbit_url, logger=None)
    queue = RabbitQueue(f"bench.echo.{uuid.uuid4().hex[:8]}", auto_delete=True)

    @broker.subscriber(queue, decoder=_raw_body)
    async def echo(message: RabbitMessage) -> dict[str, object]:
        return {"ok": True, "data": len(message.body)}

    await broker.start()
    try:

        async def call(_: int) -> None:
            reply = await broker.request(
                b'{"n": 1}', queue=queue.name, timeout=30, content_type="application/json"
            )
            json.loads(reply.body)

        await _timed(call, 5, deadline)  # warm-up
        return await _timed(call, iterations, deadline)
    finally:
        await broker.stop()


async def _raw_writes(
    mongo: MongoClient, database: str, iterations: int, deadline: float
) -> list[float]:
    db = mongo[database]

    async def create(i: int) -> None:
        now, key, phone = datetime.now(UTC), f"floor-{i}", f"+3479{i:08d}"
        await db["customers"].find_one({"phoneNumber": phone}, {"language": 1})
        await db["rate_limits"].update_one(
            {"_id": f"assistant:{phone}", "tool_calls.49": {"$exists": False}},
            {"$push": {"tool_calls": {"$each": [now], "$sort": 1, "$slice": -50}}},
            upsert=True,
        )
        customer = await db["customers"].find_one_and_update(
            {"phoneNumber": phone},
            {"$setOnInsert": {"createdAt": now}, "$push": {"recent": now}},
            upsert=True,
        )
        await db["tickets"].find_one({"idempotencyKey": key})
        counter = await db["counters"].find_one_and_update(
            {"year": now.year}, {"$inc": {"lastSequence": 1}}, upsert=True
        )
        ticket: dict[str, object] = {"ticketId": f"T-{i}", "seq": counter, **CREATE}
        ticket |= {"customer": str(customer), "statusHistory": [{"to": "new", "timestamp": now}]}
        ticket |= {"outbox": [{"eventId": uuid.uuid4().hex, "payload": CREATE}]}
        ticket |= {"idempotencyKey": key}
        await db["tickets"].insert_one(ticket)
        await db["tickets"].update_one({"ticketId": f"T-{i}"}, {"$set": {"outbox": []}})

    await db["tickets"].create_index("idempotencyKey")
    await db["customers"].create_index("phoneNumber", unique=True)
    await _timed(lambda i: create(1_000_000 + i), 5, deadline)
    return await _timed(create, iterations, deadline)


async def _gateway(
    rabbit_url: str, mongo_url: str, database: str, iterations: int, deadline: float
) -> list[float]:
    settings = Settings(
        mongodb_url=mongo_url,
        rabbitmq_url=rabbit_url,
        mongodb_database=database,
        relay_sweep_seconds=3600,
        log_level="WARNING",
    )
    runtime = Runtime(settings, [TicketService(), AssistantGateway()])
    await runtime.start()
    client = RabbitBroker(rabbit_url, logger=None)
    await client.start()
    try:

        async def call(i: int) -> None:
            body = {
                "customer": {"phone": f"+3469{i:08d}"},
                "tool_calls": [
                    {
                        "id": f"bench-{uuid.uuid4().hex}",
                        "function": {
                            "name": "create_ticket_report",
                            "arguments": json.dumps(CREATE),
                        },
                    }
                ],
            }
            reply = await client.request(
                json.dumps(body).encode(),
                queue=names.ASSISTANT_TOOL_CALLS,
                timeout=30,
                content_type="application/json",
            )
            output = json.loads(json.loads(reply.body)["data"]["tool_outputs"][0]["output"])
            if not output["success"]:
                raise RuntimeError(f"create failed: {output}")

        await _timed(lambda i: call(1_000_000 + i), 5, deadline)
        return await _timed(call, iterations, deadline)
    finally:
        await client.stop()
        await runtime.stop()


async def measure(
    rabbit_url: str, mongo_url: str, database: str, iterations: int, max_seconds: float
) -> Results:
    """Each phase gets a third of `max_seconds` (at least one sample each)."""
    budget = max_seconds / 3
    mongo = connect(mongo_url)
    try:
        rpc = await _bare_rpc(rabbit_url, iterations, time.monotonic() + budget)
        writes = await _raw_writes(
            mongo, f"{database}_floor", iterations, time.monotonic() + budget
        )
        gateway = await _gateway(
            rabbit_url, mongo_url, database, iterations, time.monotonic() + budget
        )
    finally:
        await mongo.drop_database(f"{database}_floor")
        await mongo.drop_database(database)
        await mongo.close()
    return Results(
        iterations=min(len(rpc), len(writes), len(gateway)),
        rpc_ms=statistics.median(rpc),
        writes_ms=statistics.median(writes),
        gateway_ms=statistics.median(gateway),
    )


def report(results: Results) -> str:
    return "\n".join(
        [
            f"create_ticket_report round trip, medians over {results.iterations}+ iterations",
            f"  floor: bare RabbitMQ request/reply x2  {2 * results.rpc_ms:8.2f} ms",
            f"  floor: the same database commands raw  {results.writes_ms:8.2f} ms",
            f"  floor total                            {results.floor_ms:8.2f} ms",
            f"  through the gateway                    {results.gateway_ms:8.2f} ms",
            f"  ratio gateway / floor                  {results.ratio:8.2f}x",
        ]
    )


async def _measured(iterations: int, max_seconds: float) -> Results:
    async with rabbit_vhost() as rabbit_url, mongo_server() as mongo_url:
        database = f"bench_{uuid.uuid4().hex[:8]}"
        return await measure(rabbit_url, mongo_url, database, iterations, max_seconds)


async def run(quick: bool) -> list[Result]:
    """The suite's entry: 200 calls in sequence (quick: 20)."""
    results = await _measured(20 if quick else 200, 30 if quick else 120)
    return [
        Result(
            "create_ticket_report round trip on assistant.v1.tool_calls",
            results.floor_ms,
            results.gateway_ms,
            "ms",
            "two bare request/replies + the same database commands sent raw, in sequence",
        )
    ]


async def _main(iterations: int, max_seconds: float) -> None:
    configure_logging("WARNING")
    print(report(await _measured(iterations, max_seconds)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    asyncio.run(_main(args.iterations, args.max_seconds))


if __name__ == "__main__":
    main()
