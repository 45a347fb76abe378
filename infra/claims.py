"""Claims on keys over a collection, held with a lease, and work run once per key on them.

`KeyLeases` is the one lease-claim: a record per key, `{_id: key, claimedAt, holder,
...}`. A caller claims the key (an insert), or takes it over once the holder's lease has
run out (a conditional update on the `claimedAt` it read), completes it (an update that
only a holder still holding it can make), releases it (its lease ends now, so a retry
takes it over at once) or deletes it. A record is unfinished while it matches the equality
filter `unfinished` (`{"result": None}` by default); a finished record is never taken over.

A record that vanishes between the insert that ran into it and the read (a claim
released by deletion, an expiry) is claimed again, once: a record the second insert runs
into is judged like any other, and one that vanishes again means others are claiming the
key right now, so the claim is not held. Every user of the lease-claim sees that case one
way, and it never loops.

`OnceByKey` runs a piece of work once per key across replicas on top of it: claim the
key, do the work, store its result; a duplicate answers with the stored result.

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
from collections.abc import Awaitable, Callable, Mapping
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
CLAIM_INSERTS = 2
"""Inserts a claim tries: the second only when the record found by the first vanished."""


@dataclass(frozen=True, slots=True)
class Lease:
    holder: str | None
    """This caller's token while it holds the key, else None."""
    found: Raw | None = None
    """The record as it was before this claim (None when this claim inserted it, or the
    record vanished)."""

    @property
    def held(self) -> bool:
        return self.holder is not None


class KeyLeases:
    """Claims in `records`: `{_id: key, claimedAt, holder, **fields}`."""

    def __init__(
        self,
        records: AsyncCollection[Raw],
        lease: timedelta,
        unfinished: Mapping[str, Any] | None = None,
    ) -> None:
        self.records = records
        self.lease = lease
        self._unfinished = dict({"result": None} if unfinished is None else unfinished)

    def is_unfinished(self, record: Raw) -> bool:
        return all(record.get(field) == value for field, value in self._unfinished.items())

    async def claim(
        self, key: str, now: datetime, fields: Raw | None = None, *, take_over: bool = False
    ) -> Lease:
        """Hold the key: a new claim, or one whose lease ran out (or any unfinished one, with
        `take_over`: the caller knows its holder is gone). Not held while someone else
        holds it, or once it is finished (`found` tells which)."""
        holder = uuid.uuid4().hex
        for _ in range(CLAIM_INSERTS):
            try:
                await self.records.insert_one(
                    {
                        "_id": key,
                        **self._unfinished,
                        **(fields or {}),
                        "claimedAt": now,
                        "holder": holder,
                    }
                )
            except DuplicateKeyError:
                found = await self.records.find_one({"_id": key})
            else:
                return Lease(holder)
            if found is not None:
                return await self._take_over(key, found, now, holder, take_over=take_over)
        return Lease(None)  # vanished, then claimed by somebody else: theirs

    async def _take_over(
        self, key: str, found: Raw, now: datetime, holder: str, *, take_over: bool
    ) -> Lease:
        if not self.is_unfinished(found):
            return Lease(None, found)
        if not take_over and found["claimedAt"] > now - self.lease:
            return Lease(None, found)
        taken = await self.records.update_one(
            {"_id": key, "claimedAt": found["claimedAt"], **self._unfinished},
            {"$set": {"claimedAt": now, "holder": holder}},
        )
        return Lease(holder if taken.modified_count == 1 else None, found)

    async def complete(self, key: str, holder: str, fields: Raw) -> bool:
        """Set `fields` if this holder still holds the key (False: it lost its lease)."""
        done = await self.records.update_one({"_id": key, "holder": holder}, {"$set": fields})
        return done.matched_count == 1

    async def release(self, key: str, holder: str) -> None:
        """End the holder's lease now: the next claim takes the key over at once."""
        await self.records.update_one(
            {"_id": key, "holder": holder, **self._unfinished}, {"$set": {"claimedAt": GIVEN_UP}}
        )

    async def delete(self, key: str, holder: str) -> None:
        """Remove the holder's unfinished claim: nothing is left of it."""
        await self.records.delete_one({"_id": key, "holder": holder, **self._unfinished})


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
        self.leases = KeyLeases(records, lease)
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
        await self.leases.complete(key, claim.holder, {"result": record(value)})
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
        lease = await self.leases.claim(key, now)
        result = None if lease.found is None else lease.found.get("result")
        return Claim(lease.holder, None if lease.held else result)

    async def _give_up(self, key: str, holder: str) -> None:
        """End the claim's lease (or delete it): a retry takes it over without waiting."""
        if self._keep_failed:
            await self.leases.release(key, holder)
        else:
            await self.leases.delete(key, holder)
