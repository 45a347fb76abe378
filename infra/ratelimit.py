"""Sliding-window rate limits kept in MongoDB, so they hold across any number of replicas.

Each key is one document in `rate_limits` holding the times of the hits inside the
window (a sliding log). A hit is two atomic updates: drop what left the window, then
push the new time only while fewer than `limit` remain. The second update filters on
"`hits.<limit-1>` does not exist", so concurrent hits can never push past the limit:
the loser's upsert collides on `_id` and is refused.

No TTL index: expiry would follow the server's wall clock, not the service's Clock, and
an idle key is one small document with an empty list.
"""

import math
from collections.abc import Sequence
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
        await self._hits.update_one({"_id": key}, {"$pull": {"hits": {"$lte": now - window}}})
        try:
            await self._hits.update_one(
                {"_id": key, f"hits.{limit - 1}": {"$exists": False}},
                {"$push": {"hits": now}},
                upsert=True,
            )
        except DuplicateKeyError:
            record = await self._hits.find_one({"_id": key})
            hits = record.get("hits") if record else None
            return _wait(hits or [now], window, now)
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
