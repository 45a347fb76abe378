"""The one writer of the statistics rollups: ticket refreshes and rebuilds, one at a time.

Every change to the rollups is an *operation* taken under the writer document
(`ticket_stats_writer`): a conditional update takes it (free, or its lease run out) and
hands out the next sequence number S. The operation is written into the writer document
(`pending`) before it touches a bucket, every bucket update is conditional on the bucket's
own `seq` being below S (and sets it to S), and the ticket's applied part
(`ticket_stats_applied`) likewise. So:

- an operation applies to each bucket at most once, however often it is retried;
- whoever takes the writer next finds an unfinished operation in `pending` and completes
  it (the same conditional updates) before its own, so a writer dying, failing or cancelled
  half-way loses and doubles nothing (only a finished operation clears `pending`);
- a writer whose lease ran out while it was slow is fenced: its late updates carry an
  older S than the buckets already have and change nothing.

A refresh reads the ticket as stored now and moves its part from where the applied record
says it was counted to where it belongs, so a duplicate, late or reordered event finds
nothing to move. A rebuild deletes the buckets and applied parts of the days from a date on
and recounts those days' tickets, holding the writer all along (refreshes wait; the events
stay in their queue meanwhile), and leaves every ticket's applied part at its current state,
so the events that come after it move only what changed after it.

Refreshes that arrive while the writer is busy (the subscriber works on up to its prefetch
of events at once) are applied together: the first to get the writer takes every refresh
waiting and applies them as one operation, so an operation costs the same eight database
commands (take, the tickets, their applied parts, the pending record, the day buckets, the
quarter buckets, the applied parts, release) whether it moves one ticket or a hundred, and
the cost per event falls as events pile up. If such an operation fails for anything but the
database, each of its tickets is tried again alone, so one ticket the figures cannot read
holds back no other.
"""

import asyncio
import logging
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, PyMongoError

from infra.clock import Clock
from services.ticket_service.rollups import (
    APPLIED,
    DAYS,
    PROJECTION,
    QUARTERS,
    WRITER,
    BucketDelta,
    Contribution,
    day_of,
    deltas,
    nested,
)

log = logging.getLogger(__name__)

Raw = dict[str, Any]
WRITER_ID = "writer"
DUPLICATE_KEY = 11000
REBUILD_BATCH = 500
MAX_TICKETS = 200
"""Tickets applied in one operation at most (the rest wait for the next)."""


class WriterLost(Exception):
    """Another writer took the rollups over (this one's lease ran out): stop, retry later."""


class RefreshInterrupted(Exception):
    """The operation this refresh was part of was cut off (its writer stopped); the event
    is retried, and whoever takes the writer next completes what was recorded."""


@dataclass(frozen=True)
class Held:
    seq: int
    holder: str


@dataclass(frozen=True)
class _Wanted:
    ticket_id: str
    moved: "asyncio.Future[bool]"


class RollupWriter:
    def __init__(
        self,
        database: AsyncDatabase[Raw],
        tickets: AsyncCollection[Raw],
        clock: Clock,
        lease: timedelta = timedelta(seconds=30),
    ) -> None:
        self.tickets = tickets
        self.days = database[DAYS]
        self.quarters = database[QUARTERS]
        self.applied = database[APPLIED]
        self.writer = database[WRITER]
        self.clock = clock
        self.lease = lease
        self.holder = secrets.token_hex(8)
        self._one_at_a_time = asyncio.Lock()
        self._waiting: list[_Wanted] = []

    async def ensure_indexes(self) -> None:
        by_day = [IndexModel([("scope", ASCENDING), ("day", ASCENDING)]), IndexModel("scope")]
        await self.days.create_indexes(by_day)
        await self.quarters.create_indexes([IndexModel("day")])
        await self.applied.create_indexes([IndexModel("created")])
        await self.writer.update_one(
            {"_id": WRITER_ID},
            {"$setOnInsert": {"seq": 0, "holder": None, "leaseUntil": None, "pending": None}},
            upsert=True,
        )

    # ---- the writer -----------------------------------------------------------------

    async def _take(self) -> tuple[Held, Raw | None] | None:
        now = self.clock.now()
        taken = await self.writer.find_one_and_update(
            {"_id": WRITER_ID, "$or": [{"holder": None}, {"leaseUntil": {"$lte": now}}]},
            {"$set": {"holder": self.holder, "leaseUntil": now + self.lease}, "$inc": {"seq": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if taken is None:
            return None
        return Held(int(taken["seq"]), self.holder), taken.get("pending")

    async def take(self, wait: float = 0.02) -> Held:
        """The writer, once free; an unfinished operation found there is completed first."""
        while (taken := await self._take()) is None:
            await asyncio.sleep(wait)
            wait = min(wait * 2, 0.5)
        held, pending = taken
        if pending is not None:
            log.warning("completing an unfinished statistics operation", extra={"op": pending})
            await self._complete(held, pending)
            await self._record(held, None)  # done: not to be completed again
        return held

    @asynccontextmanager
    async def _holding(self) -> AsyncIterator[Held]:
        """The writer for one operation. If the operation fails or is cancelled, its record
        stays in `pending` (some buckets may have moved): the next holder completes it."""
        held = await self.take()
        try:
            yield held
        except BaseException:
            await self.release(held, finished=False)
            raise
        await self.release(held)

    @staticmethod
    def _mine(held: Held) -> Raw:
        return {"_id": WRITER_ID, "holder": held.holder, "seq": held.seq}

    async def _record(self, held: Held, pending: Raw | None) -> None:
        done = await self.writer.update_one(self._mine(held), {"$set": {"pending": pending}})
        if done.matched_count != 1:
            raise WriterLost("the statistics writer was taken over")

    async def renew(self, held: Held) -> None:
        until = self.clock.now() + self.lease
        done = await self.writer.update_one(self._mine(held), {"$set": {"leaseUntil": until}})
        if done.matched_count != 1:
            raise WriterLost("the statistics writer was taken over")

    async def release(self, held: Held, *, finished: bool = True) -> None:
        freed: Raw = {"holder": None, "pending": None} if finished else {"holder": None}
        await self.writer.update_one(self._mine(held), {"$set": freed})

    async def _complete(self, held: Held, pending: Raw) -> None:
        if pending.get("kind") == "rebuild":
            await self._rebuild(held, pending["from"])
            return
        # a refresh of several tickets; one ticket's as written before they were batched
        items = pending.get("items", [pending])
        await self._apply(int(pending["seq"]), items, [])

    # ---- tickets --------------------------------------------------------------------

    async def refresh(self, ticket_id: str) -> bool:
        """Bring the ticket's part of the rollups to its stored state; returns whether
        anything moved. Waits while the writer is busy, then applies every refresh waiting
        by then in one operation (this one's result is its ticket's part of it)."""
        wanted = _Wanted(ticket_id, asyncio.get_running_loop().create_future())
        # an abandoned refresh (its handler cancelled) leaves nobody to read its outcome
        wanted.moved.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._waiting.append(wanted)
        async with self._one_at_a_time:
            while not wanted.moved.done():
                batch = self._waiting[:MAX_TICKETS]
                del self._waiting[:MAX_TICKETS]
                await self._settle(batch)
        return wanted.moved.result()

    async def _settle(self, batch: list[_Wanted]) -> None:
        """Applies the batch and hands each refresh its outcome."""
        try:
            outcomes = await self._refresh_all([w.ticket_id for w in batch])
        except PyMongoError as error:  # the database: every one is retried later
            _fail(batch, error)
        except Exception as error:
            if len(batch) == 1:
                _fail(batch, error)
                return
            log.warning(
                "statistics refresh of several tickets failed; each is tried alone",
                exc_info=True,
                extra={"tickets": len(batch)},
            )
            for wanted in batch:
                await self._settle([wanted])
        except BaseException:
            _fail(batch, RefreshInterrupted("the statistics writer stopped"))
            raise
        else:
            for wanted, moved in zip(batch, outcomes, strict=True):
                if not wanted.moved.done():
                    wanted.moved.set_result(moved)

    async def _refresh_all(self, ticket_ids: list[str]) -> list[bool]:
        async with self._holding() as held:
            return await self._refresh(held, ticket_ids)

    async def _refresh(self, held: Held, ticket_ids: list[str]) -> list[bool]:
        """Per ticket id (repeats moved by the first): whether its part moved."""
        wanted = list(dict.fromkeys(ticket_ids))
        stored = {
            raw["ticketId"]: raw
            async for raw in self.tickets.find({"ticketId": {"$in": wanted}}, PROJECTION)
        }
        counted = {raw["_id"]: raw async for raw in self.applied.find({"_id": {"$in": wanted}})}
        items: list[Raw] = []
        revisions: list[UpdateOne] = []
        moving: set[str] = set()
        for ticket_id in wanted:
            ticket, applied = stored.get(ticket_id), counted.get(ticket_id)
            if ticket is None and applied is None:
                continue
            new = Contribution.of(ticket) if ticket is not None else None
            old = Contribution.load(applied.get("contribution")) if applied else None
            revision = ticket.get("revision", 0) if ticket is not None else -1
            if new == old:  # only the revision moves: nothing to redo if this is lost
                revisions.append(
                    UpdateOne(
                        {"_id": ticket_id, "seq": {"$lt": held.seq}},
                        {"$set": {"seq": held.seq, "revision": revision}},
                    )
                )
                continue
            moving.add(ticket_id)
            items.append(
                {
                    "ticketId": ticket_id,
                    "old": old.stored() if old else None,
                    "new": new.stored() if new else None,
                    "revision": revision,
                }
            )
        if items:
            await self._record(held, {"seq": held.seq, "kind": "refresh", "items": items})
        await self._apply(held.seq, items, revisions)
        outcomes = []
        for ticket_id in ticket_ids:
            outcomes.append(ticket_id in moving)
            moving.discard(ticket_id)
        return outcomes

    async def _apply(self, seq: int, items: list[Raw], revisions: list[UpdateOne]) -> None:
        """The recorded moves of an operation: every bucket, then the applied parts."""
        moves: list[BucketDelta] = []
        records = list(revisions)
        for item in items:
            old, new = Contribution.load(item["old"]), Contribution.load(item["new"])
            moves.extend(deltas(old, new))
            record = {
                "seq": seq,
                "revision": item["revision"],
                "created": new.slot if new else (old.slot if old else None),
                "contribution": new.stored() if new else None,
            }
            records.append(
                UpdateOne(
                    {"_id": item["ticketId"], "seq": {"$lt": seq}}, {"$set": record}, upsert=True
                )
            )
        await self._increment(seq, moves)
        # a duplicate key: recorded by this operation already (or fenced by a later one)
        await _conditional(self.applied, records)

    async def _increment(self, seq: int, moves: list[BucketDelta]) -> None:
        """Adds the moves, summed per bucket, each bucket at most once per operation."""
        summed: dict[tuple[str, str], BucketDelta] = {}
        for move in moves:
            key = (move.collection, move.bucket_id)
            entry = summed.setdefault(
                key, BucketDelta(move.collection, move.bucket_id, move.identity, {})
            )
            for name, value in move.increments.items():
                entry.increments[name] = entry.increments.get(name, 0) + value
        by_collection: dict[str, list[UpdateOne]] = defaultdict(list)
        for entry in summed.values():
            increments = {name: value for name, value in entry.increments.items() if value}
            if not increments:
                continue
            update = {"$inc": increments, "$set": {**entry.identity, "seq": seq}}
            by_collection[entry.collection].append(
                UpdateOne({"_id": entry.bucket_id, "seq": {"$lt": seq}}, update, upsert=True)
            )
        for name, updates in by_collection.items():
            await _conditional(self.days if name == DAYS else self.quarters, updates)

    # ---- rebuild --------------------------------------------------------------------

    async def rebuild(self, since: datetime | None = None) -> int:
        """Recount the days from `since`'s UTC day on (all days without it). Returns the
        number of tickets counted."""
        start = day_of(since) if since is not None else None
        async with self._one_at_a_time, self._holding() as held:
            await self._record(held, {"seq": held.seq, "kind": "rebuild", "from": start})
            return await self._rebuild(held, start)

    async def _rebuild(self, held: Held, start: datetime | None) -> int:
        since: Raw = {} if start is None else {"$gte": start}
        await self.days.delete_many({"day": since} if since else {})
        await self.quarters.delete_many({"day": since} if since else {})
        await self.applied.delete_many({"created": since} if since else {})
        buckets: dict[tuple[str, str], tuple[Raw, dict[str, float]]] = {}
        counted, batch = 0, []
        query = {"createdAt": since} if since else {}
        async for ticket in self.tickets.find(query, PROJECTION):
            contribution = Contribution.of(ticket)
            for collection, bucket_id, identity, fields in contribution.buckets():
                _, sums = buckets.setdefault((collection, bucket_id), (identity, {}))
                for name, value in fields.items():
                    sums[name] = sums.get(name, 0) + value
            batch.append(_applied(held.seq, ticket, contribution))
            counted += 1
            if len(batch) >= REBUILD_BATCH:
                await self._store_applied(held, batch)
                batch = []
        await self._store_applied(held, batch)
        await self._store_buckets(held, buckets)
        if start is None:  # every day recounted: the buckets serve every range now
            await self.writer.update_one(self._mine(held), {"$set": {"ready": True}})
        return counted

    async def rebuild_once(self) -> None:
        """The first start on a database: count the tickets already there, once."""
        writer = await self.writer.find_one({"_id": WRITER_ID}, {"ready": 1})
        if writer is not None and writer.get("ready"):
            return
        try:
            counted = await self.rebuild()
        except Exception:
            log.exception("statistics rebuild failed; the statistics scan until one succeeds")
            return
        log.info("statistics rollups built", extra={"tickets": counted})

    async def _store_applied(self, held: Held, batch: list[Raw]) -> None:
        await self.renew(held)
        if batch:
            await self.applied.bulk_write(
                [UpdateOne({"_id": r["_id"]}, {"$set": r}, upsert=True) for r in batch],
                ordered=False,
            )

    async def _store_buckets(
        self, held: Held, buckets: Mapping[tuple[str, str], tuple[Raw, dict[str, float]]]
    ) -> None:
        for name, collection in ((DAYS, self.days), (QUARTERS, self.quarters)):
            documents = [
                {"_id": bucket_id, **identity, "seq": held.seq, **nested(sums)}
                for (kind, bucket_id), (identity, sums) in buckets.items()
                if kind == name
            ]
            for first in range(0, len(documents), REBUILD_BATCH):
                await self.renew(held)
                part = documents[first : first + REBUILD_BATCH]
                await collection.delete_many({"_id": {"$in": [d["_id"] for d in part]}})
                await collection.insert_many(part, ordered=False)


def _applied(seq: int, ticket: Mapping[str, Any], contribution: Contribution) -> Raw:
    return {
        "_id": ticket["ticketId"],
        "seq": seq,
        "revision": ticket.get("revision", 0),
        "created": contribution.slot,
        "contribution": contribution.stored(),
    }


async def _conditional(collection: AsyncCollection[Raw], updates: list[UpdateOne]) -> None:
    """Conditional upserts in one command; the ones a later operation fenced off (a
    duplicate key: the document's `seq` is already this operation's or later) change
    nothing and are not an error."""
    if not updates:
        return
    try:
        await collection.bulk_write(updates, ordered=False)
    except BulkWriteError as error:
        errors = error.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise


def _fail(batch: list[_Wanted], error: BaseException) -> None:
    for wanted in batch:
        if not wanted.moved.done():
            wanted.moved.set_exception(error)
