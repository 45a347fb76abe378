"""Persistence edge of sla_monitor: every write is one conditional update that reports
whether it won, so replicas and out-of-order events never overwrite each other.

A timer is looked up by `_id` and, redundantly, by its indexed `ticketId`: the embedded
wire server (mongoeco) answers an `_id` that finds nothing, as every new ticket's timers
do, by walking the whole collection; the `ticketId` equality narrows it to the ticket's
own timers through the `by_ticket` index."""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.enums import Priority, SlaKind, TicketStatus
from contracts.tickets import TicketSummary
from infra.due import Claimed, DueWork, bucket_of
from infra.mongo import insert_keyed
from services.sla_monitor.documents import SlaTicket, SlaTimer
from services.sla_monitor.domain.timers import (
    StoredTimer,
    TimerKind,
    TimerState,
    TimerWrite,
    decide,
    timer_id,
)

Raw = dict[str, Any]
WRITE_ATTEMPTS = 5
CLOSED = (TicketStatus.CLOSED.value, TicketStatus.CANCELLED.value)


def _stored(raw: Raw | None) -> StoredTimer | None:
    if raw is None:
        return None
    return StoredTimer(TimerState(raw["state"]), raw["dueAt"], raw["cycle"], raw["revision"])


@dataclass(frozen=True, slots=True)
class Previous:
    """What the monitor knew of a ticket before an event (None fields: nothing yet)."""

    first_response_at: datetime | None = None
    resolved_at: datetime | None = None


class TimerRepository:
    def __init__(self, database: AsyncDatabase[Raw]) -> None:
        self.timers: AsyncCollection[Raw] = database[SlaTimer.Settings.name]
        self.tickets: AsyncCollection[Raw] = database[SlaTicket.Settings.name]
        self.due_work = DueWork(
            self.timers,
            lease="leaseUntil",
            bucket="dueBucket",
            where={"state": {"$in": [TimerState.PENDING.value, TimerState.FIRING.value]}},
        )
        """A pending timer is due at `dueAt`; a firing one was claimed and is taken over
        once its lease runs out. `dueBucket` is the minute it next needs a look."""

    # ---- planning ------------------------------------------------------------------

    async def plan(
        self, ticket: TicketSummary, kind: TimerKind, wanted: Any, now: datetime
    ) -> TimerWrite | None:
        """Apply the plan of `ticket.revision` to one timer; retried on a lost race."""
        key = timer_id(ticket.ticket_id, kind)
        for _ in range(WRITE_ATTEMPTS):
            raw = await self.timers.find_one({"_id": key, "ticketId": ticket.ticket_id})
            write = decide(_stored(raw), wanted, ticket.revision)
            if write is None or await self._write(key, kind, ticket, raw, write, now):
                return write
        raise RuntimeError(f"timer {key} kept changing while it was planned")

    async def _write(
        self,
        key: str,
        kind: TimerKind,
        ticket: TicketSummary,
        raw: Raw | None,
        write: TimerWrite,
        now: datetime,
    ) -> bool:
        fields: Raw = {
            "state": write.state.value,
            "revision": write.revision,
            "priority": ticket.priority.value,
            "customerId": ticket.customer_id,
            "assignedAgent": ticket.assigned_agent,
            "updatedAt": now,
        }
        if write.timer is not None:
            fields |= {
                "dueAt": write.timer.due_at,
                "targetDueAt": write.timer.target_due_at,
                "targetSeconds": write.timer.target_seconds,
                "cycle": write.timer.cycle,
                **self.due_work.bucket_fields(write.timer.due_at, now),
                "detectedAt": None,
                "firedAt": None,
                "outcome": None,
            }
        if raw is None:
            try:
                await insert_keyed(
                    self.timers,
                    {"_id": key, "ticketId": ticket.ticket_id},
                    {"kind": kind.value, **fields},
                )
            except DuplicateKeyError:
                return False
            return True
        result = await self.timers.update_one(
            {"_id": key, "revision": raw["revision"], "state": raw["state"]}, {"$set": fields}
        )
        return result.matched_count == 1

    async def of_ticket(self, ticket_id: str) -> list[Raw]:
        return await self.timers.find({"ticketId": ticket_id}).to_list(None)

    # ---- scanning ------------------------------------------------------------------

    async def due(
        self, now: datetime, limit: int, buckets: list[datetime] | None = None
    ) -> list[Raw]:
        """Timers due by `now` (pending, or firing with their lease run out), oldest first:
        in the given minute buckets (equality lookups on the `dueBucket` index), or all of
        them (the `(state, dueAt)` range: the full sweep)."""
        return await self.due_work.candidates(now, limit, buckets=buckets)

    async def claim(self, raw: Raw, now: datetime, lease: timedelta) -> Claimed | None:
        """One conditional update: only one scanner gets a given timer. A plan that moved
        the due time later since the query makes the claim miss; one that kept it does not.
        A takeover keeps the time the first claim detected the timer due."""
        fields: Raw = {"state": TimerState.FIRING.value}
        if raw["state"] == TimerState.PENDING.value:
            fields["detectedAt"] = now
        return await self.due_work.claim_row(
            raw["_id"], now, lease, due_by=now, condition={"state": raw["state"]}, set_fields=fields
        )

    async def finish(
        self, claimed: Claimed, state: TimerState, outcome: str, now: datetime
    ) -> bool:
        """Record what the claimed timer did, unless a newer plan replaced it meanwhile (or
        another scanner took it over)."""
        return await self.due_work.complete(
            claimed, {"state": state.value, "outcome": outcome, "firedAt": now}
        )

    async def backfill_buckets(self, now: datetime) -> int:
        """Timers stored before minute buckets existed get theirs (once, at start-up)."""
        missing = {"dueBucket": {"$exists": False}, **(self.due_work.where or {})}
        filled = 0
        async for raw in self.timers.find(missing, {"dueAt": 1, "leaseUntil": 1}):
            next_look = max(raw["dueAt"], raw.get("leaseUntil") or now)
            fields = {"dueBucket": bucket_of(max(next_look, now))}
            result = await self.timers.update_one({"_id": raw["_id"], **missing}, {"$set": fields})
            filled += result.modified_count
        return filled

    # ---- the monitor's view of tickets (metrics) -----------------------------------

    async def observe(self, ticket: TicketSummary) -> tuple[bool, Previous]:
        """Store the ticket's state if `ticket.revision` is newer than what is stored.

        Returns whether it was newer (a duplicate or late event is not counted twice) and
        what was known before."""
        sla = ticket.sla
        fields: Raw = {
            "revision": ticket.revision,
            "status": ticket.status.value,
            "priority": ticket.priority.value,
            "firstResponseAt": sla.first_response_at,
            "firstResponseMet": sla.first_response_met,
            "resolutionMet": sla.resolution_met,
            "resolvedAt": ticket.resolved_at,
        }
        try:
            before: Raw | None = await self.tickets.find_one_and_update(
                {"_id": ticket.ticket_id, "revision": {"$lt": ticket.revision}},
                {"$set": fields},
                upsert=True,
                return_document=ReturnDocument.BEFORE,
            )
        except DuplicateKeyError:
            return False, Previous()
        if before is None:
            return True, Previous()
        return True, Previous(before.get("firstResponseAt"), before.get("resolvedAt"))

    async def open_counts(self) -> Counter[tuple[TicketStatus, Priority]]:
        counts: Counter[tuple[TicketStatus, Priority]] = Counter()
        pipeline: list[Raw] = [
            {"$match": {"status": {"$nin": list(CLOSED)}}},
            {"$group": {"_id": {"status": "$status", "priority": "$priority"}, "n": {"$sum": 1}}},
        ]
        async for row in await self.tickets.aggregate(pipeline):
            key = (TicketStatus(row["_id"]["status"]), Priority(row["_id"]["priority"]))
            counts[key] += int(row["n"])
        return counts

    async def compliance(self) -> dict[SlaKind, float]:
        """Met / (met + missed) per target, over tickets whose outcome is known."""
        ratios: dict[SlaKind, float] = {}
        for kind, field in (
            (SlaKind.FIRST_RESPONSE, "firstResponseMet"),
            (SlaKind.RESOLUTION, "resolutionMet"),
        ):
            met = await self.tickets.count_documents({field: True})
            missed = await self.tickets.count_documents({field: False})
            if met + missed:
                ratios[kind] = met / (met + missed)
        return ratios
