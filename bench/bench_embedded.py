"""The embedded default at 100,000 tickets: mongoeco's SQLite and memory engines side by
side, each served by the wire server `tickets up` starts (its own process).

For each engine: the ticket service starts on an empty database (its indexes made then)
and one ticket is created through `tickets.v1.create`; that database is the template.
The tickets collection is then filled with copies of that ticket (new `_id`, `ticketId`,
customer, status, priority and creation time each) to 1,000, and later to 100,000, through
mongoeco's own batch insert with the service's indexes in place (`bench.embedded_fill`
says why not through the wire server), and the server and the service start on them:
- SQLite: the copies go into the file with no server open; then the wire server starts
  on the file (timed) and the ticket service on it (timed: its indexes, already there);
- memory: a fresh server process is filled (template database, then the copies) before
  it serves, then the ticket service starts (timed).
At 1,000 and at 100,000:
- creates through `tickets.v1.create` (20 in a row, new customers; fewer, at least 3,
  if they take more than 60 s), creates/s;
- get (`tickets.v1.get` by ticketId), median ms;
- list (`tickets.v1.list`, first page of 20 newest; and the open tickets of one
  priority), median ms;
- the wire server's resident memory (RSS) and, for SQLite, the file's size;
- the fill rate (copies/s).
Each figure at 100,000 is shown against the same at 1,000 (the floor): how the engine
grows with the data. Not measured: the statistics report (the copies bypass the events
the rollups are kept from, so it would count one ticket at either size).

    .venv/bin/python -m bench.bench_embedded [--tickets 100000] [--engine sqlite]
    # or python -m bench --big
"""

import argparse
import asyncio
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.embedded_fill import write_template
from bench.suite import Result
from contracts.actors import CustomerActor, SystemActor
from contracts.client import TicketRefused, TicketsClient
from contracts.commands import CreateTicket, CustomerByPhone, GetTicket, ListTickets
from contracts.enums import Priority, Source
from infra.embedded_mongo import PASSWORD_VARIABLE
from infra.logging import configure_logging
from infra.mongo import EmbeddedMongo, _with_credentials, connect
from infra.runtime import Runtime
from infra.settings import Settings
from services.ticket_service.main import TicketService
from services.ticket_service.rollups import WRITER
from tests.support.infra import rabbit_vhost

NEEDS_BIG = True
SMALL = 1_000
DATABASE = "bench_embedded"
CREATES, MIN_CREATES, CREATE_BUDGET = 20, 3, 60.0
"""20 creates in a row, or as many as 60 s hold (at least 3): a create takes seconds on a
big collection (each insert reads every stored ticket, see docs/operations.md)."""


@dataclass
class Figures:
    """One engine at one size."""

    creates_per_second: float = 0.0
    get_ms: float = 0.0
    list_ms: float = 0.0
    filtered_list_ms: float = 0.0
    rss_mb: float = 0.0
    file_mb: float = 0.0
    server_start_s: float = 0.0
    service_start_s: float = 0.0
    failed: dict[str, str] = field(default_factory=dict)


@dataclass
class Engine:
    name: str
    small: Figures = field(default_factory=Figures)
    large: Figures = field(default_factory=Figures)
    small_fill: float = 0.0
    large_fill: float = 0.0
    tickets: int = 0


def _progress(message: str) -> None:
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"  [{time.strftime('%H:%M:%S')} load {load}] {message}", file=sys.stderr, flush=True)


def _server_pid() -> int:
    """The embedded wire server: our child running `infra.embedded_mongo`."""
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for child in (task / "children").read_text().split():
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"infra.embedded_mongo" in command or b"bench.embedded_fill" in command:
                return int(child)
    raise RuntimeError("the embedded wire server is not our child")


def _file_mb(file: Path | None) -> float:
    """The SQLite file with its write-ahead log."""
    if file is None:
        return 0.0
    parts = [file, file.with_name(file.name + "-wal")]
    return sum(part.stat().st_size for part in parts if part.exists()) / 2**20


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _median_ms(call: Callable[[int], Awaitable[object]], times: int) -> float:
    samples = []
    for i in range(times):
        started = time.perf_counter()
        await call(i)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def _create(i: int, tag: str) -> CreateTicket:
    phone = f"+3461{abs(hash(tag)) % 100:02d}{i:05d}"
    return CreateTicket(
        actor=CustomerActor(phone=phone),
        title="Order not delivered",
        description="My order #12345 has not arrived after two weeks.",
        source=Source.AI,
        customer=CustomerByPhone(phone=phone),
        idempotency_key=f"embedded-{tag}-{i}",
    )


class FilledMemory(EmbeddedMongo):
    """The memory engine's wire server, as `infra.embedded_mongo` serves it, started on a
    database filled first in its own process (`bench.embedded_fill`)."""

    def __init__(self, template: Path, tickets: int) -> None:
        super().__init__()
        self._args = ["--template", str(template), "--database", DATABASE]
        self._args += ["--tickets", str(tickets)]
        self.fill_seconds = 0.0

    async def start(self, timeout: float = 30.0) -> str:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.embedded_fill",
            *self._args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
            env={**os.environ, PASSWORD_VARIABLE: self._password},
        )
        assert self._process.stdout is not None
        async with asyncio.timeout(timeout):
            while (line := await self._process.stdout.readline()).startswith(b"FILLED "):
                self.fill_seconds = float(line.split()[2])
        if not line.startswith(b"READY "):
            await self.stop()
            raise RuntimeError(f"the filled memory server did not start: {line!r}")
        self.uri = _with_credentials(line.decode().split(" ", 1)[1].strip(), self._password)
        return self.uri


async def _fill_sqlite(file: Path, template: Path, first: int, stop: int) -> float:
    """Copies first..stop-1 into the file (no server has it open); the seconds it took."""
    args = ["--template", str(template), "--database", DATABASE, "--sqlite", str(file)]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.embedded_fill",
        *args,
        "--first",
        str(first),
        "--tickets",
        str(stop),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0 or not out.startswith(b"FILLED "):
        raise RuntimeError(f"filling {file} failed: {out!r}")
    return float(out.split()[2])


async def _figures(client: TicketsClient, size: int, pid: int, file: Path | None) -> Figures:
    system = SystemActor()
    tag = uuid.uuid4().hex[:6]
    started = time.perf_counter()
    made = 0
    while made < CREATES and (made < MIN_CREATES or time.perf_counter() - started < CREATE_BUDGET):
        await client.create(_create(made, tag))
        made += 1
    creates = made / (time.perf_counter() - started)
    _progress(f"{made} creates: {creates:.2f}/s")
    ids = [f"TICKET-2025-{(size * k) // 7:06d}" for k in range(1, 7)]

    async def get(i: int) -> None:
        await client.get(GetTicket(actor=system, ticket_id=ids[i % len(ids)]))

    async def newest(_: int) -> None:
        await client.list(ListTickets(actor=system))

    async def filtered(_: int) -> None:
        await client.list(ListTickets(actor=system, priority=[Priority.URGENT], open_only=True))

    figures = Figures(creates_per_second=creates, rss_mb=_rss_mb(pid), file_mb=_file_mb(file))
    figures.get_ms = await _timed(figures, "get", get, 12)
    figures.list_ms = await _timed(figures, "list, newest 20", newest, 5)
    figures.filtered_list_ms = await _timed(figures, "list, open urgent", filtered, 5)
    figures.rss_mb = max(figures.rss_mb, _rss_mb(pid))
    return figures


async def _timed(
    figures: Figures, what: str, call: Callable[[int], Awaitable[object]], times: int
) -> float:
    """The median ms, or NaN with the refusal kept in `figures.failed` (the embedded server
    refuses some queries on a big collection; that is a figure too)."""
    try:
        median = await _median_ms(call, times)
    except TicketRefused as refused:
        figures.failed[what] = str(refused)
        _progress(f"{what}: refused: {refused}")
        return math.nan
    _progress(f"{what}: {median:.1f} ms")
    return median


async def _template(name: str, file: Path | None, template: Path, rabbit_url: str) -> None:
    """One ticket created through `tickets.v1.create` on the server `tickets up` starts;
    its database as the service left it, written to `template`."""
    server = EmbeddedMongo(sqlite_path=file)
    url = await server.start(timeout=60)
    runtime = Runtime(_settings(url, rabbit_url), [TicketService()])
    await runtime.start()
    mongo = connect(url)
    try:
        async with TicketsClient(rabbit_url, timeout=600) as client:
            await client.create(_create(0, "template"))
        database = mongo[DATABASE]
        for _ in range(300):  # the statistics' first count (of nothing) done: ready
            writer = await database[WRITER].find_one({})
            if writer is not None and writer.get("ready"):
                break
            await asyncio.sleep(0.1)
        write_template(
            template,
            {
                name: await database[name].find({}).to_list()
                for name in await database.list_collection_names()
            },
        )
    finally:
        await mongo.close()
        await runtime.stop()
        await server.stop()
    _progress(f"{name}: template ticket created")


def _settings(url: str, rabbit_url: str) -> Settings:
    return Settings(
        mongodb_url=url,
        rabbitmq_url=rabbit_url,
        mongodb_database=DATABASE,
        relay_sweep_seconds=3600,
        log_level="WARNING",
    )


async def _at(
    name: str, size: int, filled: int, directory: Path, rabbit_url: str
) -> tuple[Figures, float]:
    """Fills up to `size` tickets (from `filled`), starts the server and the service on
    them, measures. Returns the figures and the fill rate (copies/s)."""
    template = directory / "template.bson"
    file = directory / "mongo.sqlite" if name == "sqlite" else None
    server: EmbeddedMongo
    _progress(f"{name}: filling up to {size:,}")
    if file is not None:
        seconds = await _fill_sqlite(file, template, filled, size)
        server = EmbeddedMongo(sqlite_path=file)
    else:
        server = FilledMemory(template, size)
    started = time.perf_counter()
    url = await server.start(timeout=7200)
    server_start = time.perf_counter() - started
    if isinstance(server, FilledMemory):
        seconds, server_start = server.fill_seconds, 0.0
    rate = (size - filled) / seconds
    _progress(f"{name}: {size - filled:,} copies in {seconds:.0f} s ({rate:.0f}/s)")
    pid = _server_pid()
    runtime = Runtime(_settings(url, rabbit_url), [TicketService()])
    try:
        started = time.perf_counter()
        await runtime.start()
        service_start = time.perf_counter() - started
        _progress(f"{name}: measuring at {size:,}")
        async with TicketsClient(rabbit_url, timeout=600) as client:
            figures = await _figures(client, size, pid, file)
    finally:
        await runtime.stop()
        await server.stop()
    figures.server_start_s = server_start
    figures.service_start_s = service_start
    return figures, rate


async def measure_engine(name: str, tickets: int, rabbit_url: str) -> Engine:
    engine = Engine(name, tickets=tickets)
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        file = directory / "mongo.sqlite" if name == "sqlite" else None
        await _template(name, file, directory / "template.bson", rabbit_url)
        engine.small, engine.small_fill = await _at(name, SMALL, 1, directory, rabbit_url)
        # the SQLite file keeps the 1,000 (and the 20 creates): add the rest
        first = SMALL if file is not None else 1
        engine.large, engine.large_fill = await _at(name, tickets, first, directory, rabbit_url)
    return engine


async def measure(tickets: int, engines: tuple[str, ...] = ("sqlite", "memory")) -> list[Engine]:
    async with rabbit_vhost() as rabbit_url:
        return [await measure_engine(name, tickets, rabbit_url) for name in engines]


def results(engines: list[Engine]) -> list[Result]:
    rows = []
    for engine in engines:
        size = f"{engine.tickets:,}"
        at = f"{engine.name} engine"
        floor = f"the same at {SMALL:,} tickets"
        small, large = engine.small, engine.large
        measured: list[tuple[str, str, float, float]] = [
            (
                "creates/s (up to 20 in a row)",
                "/s",
                small.creates_per_second,
                large.creates_per_second,
            ),
            ("get by ticketId", "ms", small.get_ms, large.get_ms),
            ("list, newest 20", "ms", small.list_ms, large.list_ms),
            ("list, open urgent", "ms", small.filtered_list_ms, large.filtered_list_ms),
            ("wire server RSS", "MB", small.rss_mb, large.rss_mb),
            (
                "ticket service start (its indexes)",
                "s",
                small.service_start_s,
                large.service_start_s,
            ),
            ("bulk fill (engine batch insert)", "copies/s", engine.small_fill, engine.large_fill),
        ]
        if engine.name == "sqlite":
            measured += [
                ("SQLite file", "MB", small.file_mb, large.file_mb),
                ("wire server start on the file", "s", small.server_start_s, large.server_start_s),
            ]
        rows += [
            Result(
                f"{at}, {size} tickets: {what}",
                low,
                high,
                unit,
                floor,
                note=_refusals(engine, what),
            )
            for what, unit, low, high in measured
        ]
    return rows


def _refusals(engine: Engine, what: str) -> str:
    return " ".join(
        f"Refused at {size:,} tickets: {message}."
        for size, figures in ((SMALL, engine.small), (engine.tickets, engine.large))
        for name, message in figures.failed.items()
        if what.startswith(name)
    )


async def run(quick: bool) -> list[Result]:
    """`python -m bench --big`: 100,000 tickets (quick: 5,000)."""
    return results(await measure(5_000 if quick else 100_000))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--engine", choices=("sqlite", "memory"), action="append")
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    engines = tuple(args.engine or ("sqlite", "memory"))
    for row in results(asyncio.run(measure(args.tickets, engines))):
        figures = f"{row.floor:,.1f} -> {row.project:,.1f} {row.unit}"
        note = f" [{row.note}]" if row.note else ""
        print(f"{row.measurement}: {figures} ({row.ratio:.2f}x){note}")


if __name__ == "__main__":
    os.environ.setdefault("TICKETS_LOG_LEVEL", "WARNING")
    main()
