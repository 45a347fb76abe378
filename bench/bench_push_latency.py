"""Push latency: an event published on `tickets.events` until 200 connected Socket.IO
clients have received the push, as a ratio of the raw floor.

The notifier runs as its own process (`tickets run notifier`, uvicorn on loopback); the
clients are python-socketio AsyncClients over websockets in this process. For each event
the samples are, per client, publish start -> push received.

Floor, measured in the same run on the same broker: the same event published the same
way (publisher confirms) to one plain consumer on a queue bound to the exchange, publish
start -> message consumed. The notifier adds its consumer, parsing, the room fan-out and
the websocket hop to every client, so a ratio well above 1 is expected; it tracks what
the notifier costs on top of the broker.

    .venv/bin/python -m bench.bench_push_latency [--clients 200] [--events 100]
                                                 [--max-seconds 120]
"""

import argparse
import asyncio
import os
import socket
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import socketio
from faststream.rabbit import RabbitBroker, RabbitQueue

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


@asynccontextmanager
async def notifier_process(rabbit_url: str, mongo_url: str, database: str) -> AsyncIterator[str]:
    with socket.socket() as probe:  # a free loopback port for the child to take
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "RABBITMQ_URL": rabbit_url,
        "MONGODB_URL": mongo_url,
        "TICKETS_MONGODB_DATABASE": database,
        "TICKETS_JWT_SECRET": SECRET,
        "TICKETS_LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tickets.cli",
        "run",
        "notifier",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with asyncio.timeout(60), httpx.AsyncClient() as http:
            while True:
                try:
                    if (await http.get(f"{url}/healthz")).json().get("ok"):
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        yield url
    finally:
        process.terminate()
        await process.wait()


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


async def run(clients: int, events: int, max_seconds: float) -> str:
    deadline = time.monotonic() + max_seconds
    database = f"bench_{uuid.uuid4().hex[:8]}"
    settings = Settings(jwt_secret=SECRET)
    async with rabbit_vhost() as rabbit_url, mongo_server() as mongo_url:
        ids = await agents(mongo_url, database, clients)
        now = datetime.now(UTC)
        tokens = [issue_token(settings, agent, AgentRole.AGENT, now) for agent in ids]
        floor = await measure_floor(rabbit_url, events, time.monotonic() + max_seconds / 3)
        async with notifier_process(rabbit_url, mongo_url, database) as url:
            fleet = Fleet()
            await fleet.connect(url, tokens)
            broker = RabbitBroker(rabbit_url, logger=None)
            await broker.start()
            try:
                await measure_pushes(broker, fleet, 3, deadline)  # warm-up
                pushes, measured = await measure_pushes(broker, fleet, events, deadline)
            finally:
                await broker.stop()
                await fleet.close()
    return report(clients, measured, floor, pushes)


def report(clients: int, events: int, floor: list[float], pushes: list[float]) -> str:
    def ms(value: float) -> str:
        return f"{value * 1000:.2f} ms"

    floor_p50, floor_p99 = statistics.median(floor), percentile(floor, 0.99)
    push_p50, push_p99 = statistics.median(pushes), percentile(pushes, 0.99)
    return "\n".join(
        [
            f"push latency, {clients} clients x {events} events ({len(pushes)} samples)",
            f"  floor (raw publish->consume, {len(floor)} msgs): p50 {ms(floor_p50)}, "
            f"p99 {ms(floor_p99)}",
            f"  notifier (publish->received):   p50 {ms(push_p50)}, p99 {ms(push_p99)}",
            f"  ratio: p50 {push_p50 / floor_p50:.1f}x, p99 {push_p99 / floor_p99:.1f}x",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    print(asyncio.run(run(args.clients, args.events, args.max_seconds)))


if __name__ == "__main__":
    main()
