"""Push latency: an event published on `tickets.events` until 200 connected Socket.IO
clients have received the push, as a ratio of the same fan-out done the thinnest way.

The notifier runs as its own process (`tickets run notifier`, uvicorn on loopback); the
clients are python-socketio AsyncClients over websockets in this process. For each event
the samples are, per client, publish start -> push received.

Floors, measured in the same run on the same broker with the same clients:
- fan-out (`bench/push_floor.py`, the ratio's floor): the same event to a raw aio-pika
  consumer in its own process that emits the same five fields through a bare
  python-socketio server to every client: one consume and one websocket frame per client,
  as the notifier does, without its parsing, authentication, rooms and metrics.
- broker alone (shown apart): the same publish to one plain consumer, publish ->
  consumed. It leaves out the 200 frames and the 200 clients' own work, so the push
  cannot come near it; it tells how much of the push is the broker.

    .venv/bin/python -m bench.bench_push_latency [--clients 200] [--events 100]
                                                 [--max-seconds 120]
"""

import argparse
import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import socketio
from faststream.rabbit import RabbitBroker, RabbitQueue

from bench.processes import server_process
from bench.suite import Goal, Result
from contracts.enums import AgentRole
from infra.auth import issue_token
from infra.logging import configure_logging
from infra.messaging import EVENTS
from infra.mongo import connect
from infra.settings import Settings
from tests.support.infra import mongo_server, rabbit_vhost
from tests.support.notifier_system import created, new_ticket_id, publish

SECRET = "bench-push-latency-secret-0123456789"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def notifier_process(rabbit_url: str, mongo_url: str, database: str) -> Any:
    env = {
        "RABBITMQ_URL": rabbit_url,
        "MONGODB_URL": mongo_url,
        "TICKETS_MONGODB_DATABASE": database,
        "TICKETS_JWT_SECRET": SECRET,
        "TICKETS_LOG_LEVEL": "WARNING",
        # every client connects from loopback: lift the per-address handshake cap
        "TICKETS_NOTIFIER__HANDSHAKES_PER_ADDRESS_PER_MINUTE": "100000",
    }
    return server_process(["tickets.cli", "run", "notifier"], env, "/healthz")


def floor_process(rabbit_url: str) -> Any:
    polling = "/socket.io/?EIO=4&transport=polling"
    return server_process(["bench.push_floor"], {"RABBITMQ_URL": rabbit_url}, polling)


async def agents(mongo_url: str, database: str, count: int) -> list[str]:
    mongo = connect(mongo_url)
    try:
        now = datetime.now(UTC)
        docs = [
            {
                "name": f"Agent {i}",
                "email": f"agent{i}@bench.example",
                "role": "agent",
                "isActive": True,
                "createdAt": now,
            }
            for i in range(count)
        ]
        result = await mongo[database]["agents"].insert_many(docs)
        return [str(i) for i in result.inserted_ids]
    finally:
        await mongo.close()


class Fleet:
    """Connected clients; `arrivals[ticketId]` collects each client's receive time."""

    def __init__(self) -> None:
        self.clients: list[socketio.AsyncClient] = []
        self.arrivals: dict[str, list[float]] = {}
        self.complete: dict[str, asyncio.Event] = {}
        self.size = 0

    def expect(self, ticket_id: str) -> asyncio.Event:
        self.arrivals[ticket_id] = []
        self.complete[ticket_id] = asyncio.Event()
        return self.complete[ticket_id]

    async def connect(self, url: str, tokens: list[str]) -> None:
        async def one(token: str) -> None:
            client = socketio.AsyncClient(reconnection=False)

            async def on_created(data: dict[str, Any]) -> None:
                received = self.arrivals.get(data["ticketId"])
                if received is None:
                    return
                received.append(time.perf_counter())
                if len(received) == self.size:
                    self.complete[data["ticketId"]].set()

            client.on("ticket_created", on_created)
            await client.connect(url, auth={"token": token}, transports=["websocket"])
            self.clients.append(client)

        self.size = len(tokens)
        for start in range(0, len(tokens), 50):
            await asyncio.gather(*(one(t) for t in tokens[start : start + 50]))

    async def close(self) -> None:
        await asyncio.gather(*(c.disconnect() for c in self.clients), return_exceptions=True)


async def measure_pushes(
    broker: RabbitBroker, fleet: Fleet, events: int, deadline: float
) -> tuple[list[float], int]:
    samples: list[float] = []
    done = 0
    for _ in range(events):
        if time.monotonic() > deadline and done:
            break
        event = created(new_ticket_id())
        complete = fleet.expect(event.ticket_id)
        start = time.perf_counter()
        await publish(broker, event)
        async with asyncio.timeout(30):
            await complete.wait()
        samples += [arrival - start for arrival in fleet.arrivals.pop(event.ticket_id)]
        done += 1
    return samples, done


async def measure_floor(rabbit_url: str, events: int, deadline: float) -> list[float]:
    consumer = RabbitBroker(rabbit_url, logger=None)
    arrived: dict[str, float] = {}
    signal = asyncio.Event()
    queue = RabbitQueue(
        f"bench-floor-{uuid.uuid4().hex[:8]}",
        exclusive=True,
        auto_delete=True,
        routing_key="ticket.created",
    )

    @consumer.subscriber(queue, EVENTS)
    async def consume(body: dict[str, Any]) -> None:
        arrived[body["ticketId"]] = time.perf_counter()
        signal.set()

    await consumer.start()
    publisher = RabbitBroker(rabbit_url, logger=None)
    await publisher.start()
    samples: list[float] = []
    try:
        for _ in range(events):
            if time.monotonic() > deadline and samples:
                break
            event = created(new_ticket_id())
            signal.clear()
            start = time.perf_counter()
            await publish(publisher, event)
            async with asyncio.timeout(30):
                while event.ticket_id not in arrived:
                    signal.clear()
                    await signal.wait()
            samples.append(arrived[event.ticket_id] - start)
    finally:
        await publisher.stop()
        await consumer.stop()
    return samples


@dataclass(frozen=True)
class Samples:
    broker: list[float]
    fanout: list[float]
    notifier: list[float]
    events: int


async def fan_out(
    url: str, broker: RabbitBroker, tokens: list[str], events: int, deadline: float
) -> tuple[list[float], int]:
    fleet = Fleet()
    await fleet.connect(url, tokens)
    try:
        await measure_pushes(broker, fleet, 3, deadline)  # warm-up
        return await measure_pushes(broker, fleet, events, deadline)
    finally:
        await fleet.close()


async def measure(clients: int, events: int, max_seconds: float) -> Samples:
    """Each of the three phases gets a third of `max_seconds` (at least one event)."""
    database = f"bench_{uuid.uuid4().hex[:8]}"
    settings = Settings(jwt_secret=SECRET)
    async with rabbit_vhost() as rabbit_url, mongo_server() as mongo_url:
        ids = await agents(mongo_url, database, clients)
        now = datetime.now(UTC)
        tokens = [issue_token(settings, agent, AgentRole.AGENT, now) for agent in ids]
        floor = await measure_floor(rabbit_url, events, time.monotonic() + max_seconds / 3)
        broker = RabbitBroker(rabbit_url, logger=None)
        await broker.start()
        await broker.declare_exchange(EVENTS)
        try:
            async with floor_process(rabbit_url) as url:
                deadline = time.monotonic() + max_seconds / 3
                fanout, _ = await fan_out(url, broker, tokens, events, deadline)
            async with notifier_process(rabbit_url, mongo_url, database) as url:
                deadline = time.monotonic() + max_seconds / 3
                pushes, measured = await fan_out(url, broker, tokens, events, deadline)
        finally:
            await broker.stop()
    return Samples(floor, fanout, pushes, measured)


def results(clients: int, samples: Samples) -> list[Result]:
    fanout = f"a raw consumer + bare python-socketio fan-out to the same {clients} clients"
    broker = "raw publish -> one plain consumer (no fan-out, no clients)"
    note = (
        "The broker alone leaves out the per-client frames and the clients' own work, "
        "which the push cannot avoid; shown to tell the broker's part."
    )
    pushes = samples.notifier
    return [
        Result(
            f"push p99, {clients} Socket.IO clients",
            percentile(samples.fanout, 0.99) * 1000,
            percentile(pushes, 0.99) * 1000,
            "ms",
            fanout,
            Goal("<=", 2.0),
        ),
        Result(
            f"push p50, {clients} Socket.IO clients",
            statistics.median(samples.fanout) * 1000,
            statistics.median(pushes) * 1000,
            "ms",
            fanout,
        ),
        Result(
            f"push p99 vs the broker alone, {clients} clients",
            percentile(samples.broker, 0.99) * 1000,
            percentile(pushes, 0.99) * 1000,
            "ms",
            broker,
            note=note,
        ),
    ]


async def run(quick: bool) -> list[Result]:
    """The suite's entry (`python -m bench`): 200 clients x 100 events; quick: 50 x 20."""
    clients, events = (50, 20) if quick else (200, 100)
    return results(clients, await measure(clients, events, 60 if quick else 180))


def report(clients: int, samples: Samples) -> str:
    def ms(value: float) -> str:
        return f"{value * 1000:.2f} ms"

    lines = [f"push latency, {clients} clients x {samples.events} events"]
    for label, values in (
        ("floor: broker alone (publish->consume)", samples.broker),
        ("floor: raw fan-out (publish->received)", samples.fanout),
        ("notifier (publish->received)", samples.notifier),
    ):
        p50, p99 = statistics.median(values), percentile(values, 0.99)
        lines.append(f"  {label:40} p50 {ms(p50)}, p99 {ms(p99)}")
    lines += [f"  ratio {r.measurement}: {r.ratio:.2f}x" for r in results(clients, samples)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--max-seconds", type=float, default=180.0)
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    samples = asyncio.run(measure(args.clients, args.events, args.max_seconds))
    print(report(args.clients, samples))


if __name__ == "__main__":
    main()
