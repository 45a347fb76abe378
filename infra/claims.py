"""Run a piece of work once per key across replicas: claim the key with a lease, do the
work, store its result; a duplicate answers with the stored result.

- A duplicate that finds the key claimed waits as long as the claim's lease runs (polling
  with a growing pause), then answers the result or takes the claim over.
- When the work fails, or its task is cancelled (a broker connection lost mid-message),
  the claim stays and only gives up its lease, so a retry takes it over at once (or, with
  `keep_failed=False`, the claim is deleted: nothing is left of a run that failed). The
  work may have changed something before it failed, so it must be safe to run again
  (each of its writes conditional or idempotent on the key).
- Completing is conditional on still holding the claim: a holder that was too slow and
  lost its lease does not overwrite the result of the one that took over.
"""

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from infra.clock import Clock

Raw = dict[str, Any]
GIVEN_UP = datetime(1970, 1, 1, tzinfo=UTC)
FIRST_POLL_SECONDS = 0.02
MAX_POLL_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Claim:
    holder: str | None
    """This caller's token when it holds the key, else None."""
    result: Raw | None = None


class OnceByKey:
    """Results in `records`: `{_id: key, claimedAt, holder, result}`."""

    def __init__(
        self,
        records: AsyncCollection[Raw],
        lease: timedelta,
        clock: Clock,
        *,
        keep_failed: bool = True,
    ) -> None:
        self._records = records
        self._lease = lease
        self._clock = clock
        self._keep_failed = keep_failed

    async def once[T](
        self,
        key: str,
        work: Callable[[], Awaitable[T]],
        record: Callable[[T], Raw],
        replay: Callable[[Raw], Awaitable[T]],
    ) -> T:
        """Run `work` once per key; duplicates, concurrent or later, get its result."""
        claim = await self._wait_for(key)
        if claim.result is not None:
            return await replay(claim.result)
        assert claim.holder is not None
        try:
            value = await work()
        except BaseException:
            with contextlib.suppress(Exception):  # the store is down: the lease runs out
                await asyncio.shield(self._give_up(key, claim.holder))
            raise
        await self._records.update_one(
            {"_id": key, "holder": claim.holder}, {"$set": {"result": record(value)}}
        )
        return value

    async def _wait_for(self, key: str) -> Claim:
        pause = FIRST_POLL_SECONDS
        while True:
            claim = await self.claim(key, self._clock.now())
            if claim.holder is not None or claim.result is not None:
                return claim
            await asyncio.sleep(pause)
            pause = min(MAX_POLL_SECONDS, pause * 2)

    async def claim(self, key: str, now: datetime) -> Claim:
        """Hold the key, or learn its result; Claim(None) while someone else holds it."""
        holder = uuid.uuid4().hex
        try:
            await self._records.insert_one(
                {"_id": key, "claimedAt": now, "holder": holder, "result": None}
            )
        except DuplicateKeyError:
            pass
        else:
            return Claim(holder)
        record = await self._records.find_one({"_id": key})
        if record is None:  # a claim from before claims were kept; try again
            return Claim(None)
        if record.get("result") is not None:
            return Claim(None, record["result"])
        if record["claimedAt"] > now - self._lease:
            return Claim(None)
        taken = await self._records.update_one(
            {"_id": key, "claimedAt": record["claimedAt"], "result": None},
            {"$set": {"claimedAt": now, "holder": holder}},
        )
        return Claim(holder if taken.modified_count == 1 else None)

    async def _give_up(self, key: str, holder: str) -> None:
        """End the claim's lease (or delete it): a retry takes it over without waiting."""
        mine = {"_id": key, "holder": holder, "result": None}
        if self._keep_failed:
            await self._records.update_one(mine, {"$set": {"claimedAt": GIVEN_UP}})
        else:
            await self._records.delete_one(mine)
