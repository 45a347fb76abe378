"""Sliding-window rate limits kept in MongoDB, so they hold across any number of replicas.

Each key is one document in `rate_limits` holding, per log, the times of its last
`limit` hits in order (a sliding log, capped). A hit is one conditional update: push the
new time (keeping the last `limit`) only where the log has room, that is fewer than
`limit` entries or its oldest kept entry already out of the window. Concurrent hits can
never push past the limit: the loser's upsert collides on `_id` and is refused (one more
read then says how long to wait). `take` does the same on several logs of one key at
once, all or none. After a limit is lowered, a log still holding more entries than the
new limit may let one hit too many through before its next push trims it.

No TTL index: expiry would follow the server's wall clock, not the service's Clock, and
an idle key is one small document with an empty list.

A log's document is found by its `key` field (a single-field index, made on first use),
not by `_id` (which holds the same key and keeps it unique): the embedded wire server
(mongoeco) answers an `_id` equality that finds nothing, as every new key's first hit
does, by walking the whole collection, which grows with every customer and address
(about 10 ms of its CPU per new key at 1,000 documents), while a miss on an indexed field
is one lookup. On MongoDB both are index lookups. A document written before the field
existed is given it the first time its key is hit again.

`RequestCounter` is for limits in the hundreds per window, hit on every request (the
callers' request budget): a log that long makes every hit rewrite hundreds of times (on the
embedded wire server about 20 ms of its CPU per hit at 600 entries), so it counts in fixed
windows instead: one small document per key, `{windowStart, count}`, one `$inc` per hit.
"""

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

COLLECTION = "rate_limits"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RateLimiter:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._hits = collection
        self._indexed = False

    async def hit(self, key: str, limit: int, window: timedelta, now: datetime) -> int | None:
        """Count one hit; None when allowed, else the seconds until one is allowed again."""
        refused = await self.take(key, {"hits": limit}, window, now)
        return None if refused is None else refused[1]

    async def take(
        self, key: str, limits: Mapping[str, int], window: timedelta, now: datetime
    ) -> tuple[str, int] | None:
        """One hit on each named log of `key` (each limit at least 1), all or none, in one
        conditional update. None when every log had room, else the first that had none and
        the seconds until it has."""
        cutoff = now - window
        room = [
            {"$or": [{f"{log}.{limit - 1}": {"$exists": False}}, {f"{log}.0": {"$lte": cutoff}}]}
            for log, limit in limits.items()
        ]
        push = {
            log: {"$each": [now], "$sort": 1, "$slice": -limit} for log, limit in limits.items()
        }
        if not self._indexed:
            await self._hits.create_index("key")
            self._indexed = True
        for _ in range(2):  # again once if room came back between the update and the read
            try:
                await self._hits.update_one(
                    {"key": key, "$and": room},
                    {"$push": push, "$setOnInsert": {"_id": key}},
                    upsert=True,
                )
            except DuplicateKeyError:
                record = await self._hits.find_one({"_id": key}) or {}
                if record and "key" not in record:
                    await self._adopt(key)
                    continue
                refused = _refused(record, limits, window, now)
                if refused is not None:
                    return refused
            else:
                return None
        return next(iter(limits)), 1

    async def _adopt(self, key: str) -> None:
        """Gives a document written before the `key` field (by an older version) the field,
        so the next update finds it."""
        await self._hits.update_one({"_id": key, "key": {"$exists": False}}, {"$set": {"key": key}})

    async def exhausted(
        self, limits: Sequence[tuple[str, int]], window: timedelta, now: datetime
    ) -> int | None:
        """Without counting a hit: None while every key has room, else the longest wait.
        One read for all the keys."""
        wanted = dict(limits)
        cursor = self._hits.find({"_id": {"$in": list(wanted)}})
        waits = []
        async for record in cursor:
            recent = [at for at in record.get("hits", []) if at > now - window]
            if len(recent) >= wanted[record["_id"]]:
                waits.append(_wait(recent, window, now))
        return max(waits, default=None)


class RequestCounter:
    """At most `limit` hits per key in each fixed window (windows start at multiples of
    the window since the Unix epoch: every clock minute for a one-minute window). Exact
    under concurrent hits and across replicas; a burst that straddles two windows can
    reach twice the limit within one window's length. An allowed hit is one conditional
    `$inc`; the first hit of a new window costs one more command (resetting the count)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._counts = collection

    async def hit(self, key: str, limit: int, window: timedelta, now: datetime) -> int | None:
        """Count one hit; None when allowed, else the seconds until the next window."""
        start = _window_start(now, window)
        for _ in range(2):  # again once if another hit opened this window meanwhile
            try:
                await self._counts.update_one(  # a hit whose clock lags counts in a later window
                    {"_id": key, "windowStart": {"$gte": start}, "count": {"$lt": limit}},
                    {"$inc": {"count": 1}, "$setOnInsert": {"windowStart": start}},
                    upsert=True,
                )
            except DuplicateKeyError:
                if await self._open(key, start):
                    return None
            else:
                return None
        return max(1, math.ceil((start + window - now).total_seconds()))

    async def _open(self, key: str, start: datetime) -> bool:
        """This hit opens the window `start` on a key last counted in an earlier one (or
        kept as a sliding log by an older version)."""
        earlier = {"$or": [{"windowStart": {"$lt": start}}, {"windowStart": {"$exists": False}}]}
        opened = await self._counts.update_one(
            {"_id": key, **earlier},
            {"$set": {"windowStart": start, "count": 1}, "$unset": {"hits": ""}},
        )
        return opened.modified_count == 1


def _refused(
    record: Mapping[str, Any], limits: Mapping[str, int], window: timedelta, now: datetime
) -> tuple[str, int] | None:
    for log, limit in limits.items():
        recent = [at for at in record.get(log, []) if at > now - window]
        if len(recent) >= limit:
            return log, _wait(recent, window, now)
    return None


def _window_start(now: datetime, window: timedelta) -> datetime:
    return now - (now - EPOCH) % window


def _wait(hits: list[datetime], window: timedelta, now: datetime) -> int:
    return max(1, math.ceil((min(hits) + window - now).total_seconds()))
