"""Reading the statistics rollups (`rollups.py`) for a range and the scopes a caller may
read: O(days in the range) documents, whatever the number of tickets."""

from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.asynchronous.collection import AsyncCollection

from services.ticket_service.rollups import (
    APPLIED,
    DAYS,
    EVERYONE,
    QUARTERS,
    SLOT,
    WRITER,
    Contribution,
    as_utc,
    day_id,
    day_of,
    hours_and_quarters,
    nested,
    plan,
    slot_index,
    slot_of,
)


def _bounds(name: str, start: datetime | None, end: datetime | None) -> dict[str, Any]:
    bound = {op: m for op, m in (("$gte", start), ("$lt", end)) if m is not None}
    return {name: bound} if bound else {}


@dataclass
class Collected:
    """Rollup buckets to add up (`statistics.Figures.add_bucket`), and tickets created
    per day."""

    buckets: list[Mapping[str, Any]] = field(default_factory=list)
    created: Counter[date] = field(default_factory=Counter)

    def add_bucket(self, bucket: Mapping[str, Any]) -> None:
        self.buckets.append(bucket)

    def per_day(self) -> list[dict[str, Any]]:
        """As the aggregation's `perDay` rows: days with tickets only."""
        return [{"_id": d.isoformat(), "count": n} for d, n in self.created.items() if n]


class RollupReader:
    """A range's figures from the rollups: the days inside it, the quarter hours at its
    ends (the quarter-hour documents of at most two days per scope, by `_id`) and, for the
    piece of a quarter hour at either end, the applied parts of the tickets created in
    that quarter hour (an equality lookup on `created`). The tickets are not read."""

    def __init__(self, tickets: AsyncCollection[dict[str, Any]]) -> None:
        database = tickets.database
        self.days = database[DAYS]
        self.quarters = database[QUARTERS]
        self.applied = database[APPLIED]
        self.writer = database[WRITER]

    async def ready(self) -> bool:
        """Whether a full rebuild has run (until then the buckets may miss old tickets)."""
        writer = await self.writer.find_one({"_id": "writer"}, {"ready": 1})
        return bool(writer and writer.get("ready"))

    async def collect(
        self, start: datetime | None, end: datetime | None, zone: ZoneInfo, scopes: list[str]
    ) -> Collected:
        """The buckets that add up to the tickets created in [start, end] that `scopes`
        may read, and how many of them were created each day in `zone`."""
        where = plan(start, end)
        figures, created = Collected(), Counter[date]()
        for scope in scopes:
            if where.days is not None:
                await self._days(figures, created, zone, scope, where.days)
            for day, quarters in _quarters_by_day(where.slots).items():
                await self._quarters(figures, created, zone, day_id(scope, day), quarters)
        for condition in where.raw:
            async for part in self._parts(condition, scopes):
                figures.add_bucket(nested(part.fields))
                created[part.created_at.astimezone(zone).date()] += 1
        figures.created = created
        return figures

    async def _days(
        self,
        figures: Collected,
        created: Counter[date],
        zone: ZoneInfo,
        scope: str,
        bounds: tuple[datetime | None, datetime | None],
    ) -> None:
        days = {"scope": scope, **_bounds("day", *bounds)}
        async for bucket in self.days.find(days, {"_id": 0, "seq": 0}):
            figures.add_bucket(bucket)
            for index, count in (bucket.get("slots") or {}).items():
                moment = as_utc(bucket["day"]) + int(index) * SLOT
                created[moment.astimezone(zone).date()] += count

    async def _quarters(
        self,
        figures: Collected,
        created: Counter[date],
        zone: ZoneInfo,
        bucket_id: str,
        quarters: list[int],
    ) -> None:
        hours, leftovers = hours_and_quarters(quarters)
        found = await self.quarters.find_one(
            {"_id": bucket_id}, quarter_projection(quarters, hours, leftovers)
        )
        if found is None:
            return
        day = as_utc(found["day"])
        for kind, indexes in (("h", hours), ("q", leftovers)):
            for index in indexes:
                part = (found.get(kind) or {}).get(str(index))
                if part:
                    figures.add_bucket(part)
        for index in quarters:
            part = (found.get("q") or {}).get(str(index)) or {}
            count = (part.get("all") or {}).get("tickets", 0)
            if count:
                created[(day + index * SLOT).astimezone(zone).date()] += count

    async def _parts(
        self, condition: Mapping[str, datetime], scopes: list[str]
    ) -> AsyncIterator[Contribution]:
        """The applied parts of the tickets created within `condition` (inside one
        quarter hour) that `scopes` may read."""
        start = condition["$gte"]
        async for record in self.applied.find({"created": slot_of(start)}, {"contribution": 1}):
            part = Contribution.load(record["contribution"])
            if part is None or part.created_at < start:
                continue
            if "$lt" in condition and part.created_at >= condition["$lt"]:
                continue
            if "$lte" in condition and part.created_at > condition["$lte"]:
                continue
            if EVERYONE in scopes or part.scope in scopes:
                yield part


def quarter_projection(
    quarters: Iterable[int], hours: Iterable[int], leftovers: Iterable[int]
) -> dict[str, int]:
    """What a report reads of a day's quarter-hour document: the whole hours' sums, the
    leftover quarter hours' sums, and the other quarter hours' ticket counts only."""
    whole = set(leftovers)
    fields = {"_id": 0, "day": 1} | {f"h.{h}": 1 for h in hours}
    fields |= {f"q.{q}": 1 for q in whole}
    return fields | {f"q.{q}.all.tickets": 1 for q in quarters if q not in whole}


def _quarters_by_day(ranges: Iterable[tuple[datetime, datetime]]) -> dict[datetime, list[int]]:
    """The quarter hours of half-open ranges, as their UTC day and index in it."""
    found: dict[datetime, list[int]] = {}
    for start, stop in ranges:
        for n in range((stop - start) // SLOT):
            quarter = start + n * SLOT
            found.setdefault(day_of(quarter), []).append(slot_index(quarter))
    return found
