"""`tickets migrate conversations`: tickets for an existing CRM's conversations, through
the running ticket service (`tickets.v1.create`, as the System), each linked back on its
conversation (`linkedTicketId`). Safe to run again: linked conversations are not read, and
the idempotency key `migrate:<conversation id>` answers an interrupted one with its ticket.
"""

import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConfigurationError

from contracts.client import TicketClientError, TicketRefused, TicketsClient
from contracts.commands import CreateTicket
from infra.dependencies import open_mongo, without_password
from infra.settings import Settings
from infra.startup import StartupError
from services.ticket_service.domain.migration import BadRecord, plan

CONCURRENCY = 8
REQUEST_TIMEOUT_SECONDS = 30.0
BAD_DATA_CODES = frozenset({"validation", "not_found", "forbidden"})
"""Refusals that running again will not change: the record is reported as bad."""

Raw = dict[str, Any]


@dataclass(frozen=True)
class Options:
    source_url: str
    collection: str
    query: Raw
    dry_run: bool = False
    customers: str = "customers"


@dataclass
class Summary:
    examined: int = 0
    linked: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def line(self, dry_run: bool) -> str:
        done = (
            f"would get a ticket: {self.linked}" if dry_run else f"linked to tickets: {self.linked}"
        )
        tail = "; dry run, nothing was written" if dry_run else ""
        return (
            f"conversations examined: {self.examined}, {done}, skipped as bad records: "
            f"{len(self.bad)}, failed (run again): {len(self.failed)}{tail}"
        )


def parse_filter(text: str) -> Raw:
    try:
        query = json.loads(text)
    except json.JSONDecodeError as error:
        raise StartupError(f"--filter is not JSON: {error}") from None
    if not isinstance(query, dict):
        raise StartupError('--filter must be a JSON object, e.g. \'{"status": "resolved"}\'')
    return query


async def migrate(settings: Settings, options: Options, progress: TextIO = sys.stderr) -> Summary:
    source = await open_mongo(options.source_url, settings.startup_timeout_seconds)
    tickets = TicketsClient(
        settings.rabbitmq_url,
        timeout=REQUEST_TIMEOUT_SECONDS,
        connect_timeout=settings.startup_timeout_seconds,
    )
    try:
        try:
            database = source.get_default_database()
        except ConfigurationError:
            raise StartupError(
                "--from must name the CRM's database, e.g. mongodb://crm-db:27017/crm"
            ) from None
        if not options.dry_run:
            await _reach(tickets, settings.rabbitmq_url)
        run = _Run(options, database[options.collection], database[options.customers], progress)
        run.tickets = tickets
        return await run.all()
    finally:
        await tickets.close()
        await source.close()


async def _reach(tickets: TicketsClient, url: str) -> None:
    try:
        await tickets.connect()
    except TicketClientError as error:
        raise StartupError(
            f"RabbitMQ at {without_password(url)} cannot be reached ({error}); check RABBITMQ_URL"
        ) from None


class _Run:
    def __init__(
        self,
        options: Options,
        conversations: AsyncCollection[Raw],
        customers: AsyncCollection[Raw],
        progress: TextIO,
    ) -> None:
        self.options = options
        self.conversations = conversations
        self.customers = customers
        self.bar = _Bar(progress)
        self.summary = Summary()
        self.tickets: TicketsClient | None = None

    async def all(self) -> Summary:
        pending = {"$and": [self.options.query, {"linkedTicketId": None}]}
        self.bar.total = await self.conversations.count_documents(pending)
        gate = asyncio.Semaphore(CONCURRENCY)
        batch: list[asyncio.Task[None]] = []
        async for conversation in self.conversations.find(pending):
            batch.append(asyncio.create_task(self._one(conversation, gate)))
            if len(batch) >= CONCURRENCY * 8:
                await asyncio.gather(*batch)
                batch = []
        await asyncio.gather(*batch)
        self.bar.finish()
        return self.summary

    async def _one(self, conversation: Raw, gate: asyncio.Semaphore) -> None:
        async with gate:
            self.summary.examined += 1
            label = str(conversation.get("_id", "?"))
            try:
                planned = plan(conversation, await self._customer(conversation))
                if not self.options.dry_run:
                    await self._create_and_link(conversation, planned.command)
                self.summary.linked += 1
            except BadRecord as error:
                self.summary.bad.append((label, str(error)))
                self.bar.note(f"skipped conversation {label}: {error}")
            except TicketClientError as error:
                self.summary.failed.append((label, str(error)))
                self.bar.note(f"failed conversation {label}: {error}")
            self.bar.step(self._counts)

    def _counts(self) -> str:
        s = self.summary
        return f"{s.linked} ok, {len(s.bad)} bad, {len(s.failed)} failed"

    async def _customer(self, conversation: Raw) -> Raw | None:
        reference = conversation.get("customerId")
        if reference is None or isinstance(conversation.get("customer"), dict):
            return None
        return await self.customers.find_one({"_id": reference})

    async def _create_and_link(self, conversation: Raw, command: CreateTicket) -> None:
        assert self.tickets is not None
        try:
            ticket = await self.tickets.create(command)
        except TicketRefused as error:
            if error.code in BAD_DATA_CODES:
                raise BadRecord(f"the ticket service refused it: {error}") from None
            raise
        await self.conversations.update_one(
            {"_id": conversation["_id"]}, {"$set": {"linkedTicketId": ticket.ticket_id}}
        )


class _Bar:
    """`[#####.....] 450/1000` redrawn in place on a terminal; every 10% otherwise."""

    WIDTH = 30

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.total = 0
        self.done = 0
        self.tty = out.isatty()
        self._last_tenth = -1

    def step(self, counts: Callable[[], str]) -> None:
        self.done += 1
        tenth = self.done * 10 // max(self.total, 1)
        if self.tty or tenth != self._last_tenth or self.done == self.total:
            self._last_tenth = tenth
            filled = self.done * self.WIDTH // max(self.total, 1)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            end = "\r" if self.tty else "\n"
            self.out.write(f"[{bar}] {self.done}/{self.total} ({counts()}){end}")
            self.out.flush()

    def note(self, line: str) -> None:
        prefix = "\n" if self.tty else ""
        self.out.write(f"{prefix}tickets: {line}\n")

    def finish(self) -> None:
        if self.tty:
            self.out.write("\n")
        self.out.flush()
