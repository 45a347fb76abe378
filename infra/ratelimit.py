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
"""

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

COLLECTION = "rate_limits"


class RateLimiter:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._hits = collection

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
        for _ in range(2):  # again once if room came back between the update and the read
            try:
                await self._hits.update_one(
                    {"_id": key, "$and": room}, {"$push": push}, upsert=True
                )
            except DuplicateKeyError:
                refused = await self._refused(key, limits, window, now)
                if refused is not None:
                    return refused
            else:
                return None
        return next(iter(limits)), 1

    async def _refused(
        self, key: str, limits: Mapping[str, int], window: timedelta, now: datetime
    ) -> tuple[str, int] | None:
        record = await self._hits.find_one({"_id": key}) or {}
        for log, limit in limits.items():
            recent = [at for at in record.get(log, []) if at > now - window]
            if len(recent) >= limit:
                return log, _wait(recent, window, now)
        return None

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


def _wait(hits: list[datetime], window: timedelta, now: datetime) -> int:
    return max(1, math.ceil((min(hits) + window - now).total_seconds()))
