"""Due work, written once: rows that say when they are next due; any number of workers
claim what is due, act, then complete, reschedule or release what they claimed.

- A claim is one conditional update per row: the row must still be due (its due field at
  or before the cut-off) and its lease free (`claimedUntil` unset or past). It sets the
  lease and a fresh holder token, so of two workers only one wins a row.
- A worker that dies leaves its lease to run out; then the row is due again and the next
  claim takes it over (with a new token).
- Completing, rescheduling and releasing are conditional on the holder token: a worker
  that lost its lease (too slow; taken over) changes nothing.
- Rows may also carry a minute bucket (`dueBucket`: the minute in which the row next needs
  a look, never earlier than when it was written), indexed, so a scanner can ask for the
  minutes since it last looked by equality instead of a range over every open row
  (`MinuteWalk`); a claimed row's bucket is its lease's minute, so a takeover is found
  the same way.

The clock is always passed in. Field names are the caller's (existing collections keep
theirs).
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

Raw = dict[str, Any]
MINUTE = timedelta(minutes=1)


def bucket_of(moment: datetime) -> datetime:
    """The minute `moment` falls in."""
    return moment.replace(second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row as its claim left it, and the token that proves the claim is still ours."""

    row: Raw
    holder: str | None
    """None: held by the writer that wrote the row with its lease already set."""


@dataclass(frozen=True, slots=True)
class DueWork:
    collection: AsyncCollection[Raw]
    due: str = "dueAt"
    lease: str = "claimedUntil"
    holder: str = "claimedBy"
    key: str = "_id"
    bucket: str | None = None
    """The minute-bucket field, when the rows carry one."""
    where: Raw | None = None
    """What else makes a row claimable (a state, say); no `$or` (the lease check is one)."""

    def free(self, now: datetime) -> Raw:
        return {"$or": [{self.lease: None}, {self.lease: {"$lte": now}}]}

    def due_filter(self, due_by: datetime, now: datetime) -> Raw:
        """Rows due by `due_by` whose lease is free at `now`."""
        return {**(self.where or {}), self.due: {"$lte": due_by}, **self.free(now)}

    async def candidates(
        self,
        now: datetime,
        limit: int,
        *,
        due_by: datetime | None = None,
        buckets: Sequence[datetime] | None = None,
        where: Raw | None = None,
        sort: bool = True,
        projection: Raw | None = None,
    ) -> list[Raw]:
        """Due rows (matching `where` too), oldest first: by a range over the due field, or
        (`buckets`) one equality lookup per minute bucket, in order, until `limit`."""
        query = {**self.due_filter(due_by or now, now), **(where or {})}
        if limit <= 0:
            return []  # a limit of 0 would mean none at all to MongoDB
        if buckets is None:
            return await self._find(query, limit, sort, projection)
        if self.bucket is None:
            raise ValueError("these rows carry no bucket")
        found: list[Raw] = []
        for minute in buckets:
            found += await self._find(
                {self.bucket: minute, **query}, limit - len(found), sort, projection
            )
            if len(found) >= limit:
                break
        return found

    async def _find(self, query: Raw, limit: int, sort: bool, projection: Raw | None) -> list[Raw]:
        cursor = self.collection.find(query, projection)
        if sort:
            cursor = cursor.sort([(self.due, ASCENDING)])
        return await cursor.limit(limit).to_list(None)

    async def claim(
        self,
        now: datetime,
        lease: timedelta,
        limit: int,
        *,
        due_by: datetime | None = None,
        buckets: Sequence[datetime] | None = None,
        where: Raw | None = None,
        set_fields: Raw | None = None,
        inc: Raw | None = None,
    ) -> list[Claimed]:
        """Up to `limit` due rows, each claimed by one conditional update."""
        claimed: list[Claimed] = []
        found = await self.candidates(now, limit, due_by=due_by, buckets=buckets, where=where)
        for row in found:
            won = await self.claim_row(
                row[self.key], now, lease, due_by=due_by or now, set_fields=set_fields, inc=inc
            )
            if won is not None:
                claimed.append(won)
        return claimed

    async def claim_row(
        self,
        key: Any,
        now: datetime,
        lease: timedelta,
        *,
        due_by: datetime | None,
        condition: Raw | None = None,
        set_fields: Raw | None = None,
        inc: Raw | None = None,
        projection: Raw | None = None,
    ) -> Claimed | None:
        """Claims one row if it is due by `due_by` (None: whenever; only the lease
        matters) and matches `condition`; None when it is not, or someone else holds it."""
        holder = uuid.uuid4().hex
        if due_by is None:
            query = {**(self.where or {}), **self.free(now)}
        else:
            query = self.due_filter(due_by, now)
        until = now + lease
        fields = {
            self.lease: until,
            self.holder: holder,
            **self._bucket(until),
            **(set_fields or {}),
        }
        update: Raw = {"$set": fields}
        if inc:
            update["$inc"] = inc
        row: Raw | None = await self.collection.find_one_and_update(
            {self.key: key, **query, **(condition or {})},
            update,
            projection=projection,
            return_document=ReturnDocument.AFTER,
        )
        return None if row is None else Claimed(row, holder)

    async def complete(self, claimed: Claimed, set_fields: Raw | None = None) -> bool:
        """Done: the lease is given up and the row leaves every bucket."""
        bucket = {} if self.bucket is None else {self.bucket: None}
        return await self._as_holder(claimed, {**bucket, **(set_fields or {})})

    async def reschedule(
        self, claimed: Claimed, due_at: datetime, now: datetime, set_fields: Raw | None = None
    ) -> bool:
        """Due again at `due_at`; the lease is given up."""
        fields = {self.due: due_at, **self._bucket(max(due_at, now)), **(set_fields or {})}
        return await self._as_holder(claimed, fields)

    async def release(self, claimed: Claimed, now: datetime) -> bool:
        """Given back untouched: claimable again at once."""
        return await self._as_holder(claimed, self._bucket(now))

    async def _as_holder(self, claimed: Claimed, fields: Raw) -> bool:
        result = await self.collection.update_one(
            self.held_by(claimed), {"$set": {**self.given_up(), **fields}}
        )
        return result.matched_count == 1

    def held_by(self, claimed: Claimed) -> Raw:
        """The condition of a holder's own update (a pipeline, say): the claim is still
        `claimed`'s. The update sets `given_up()`."""
        return {self.key: claimed.row[self.key], self.holder: claimed.holder}

    def given_up(self) -> Raw:
        return {self.lease: None, self.holder: None}

    async def expired(self, now: datetime, where: Raw, limit: int = 0) -> list[Raw]:
        """Held rows whose lease ran out (their worker died), matching `where`."""
        query = {**where, self.lease: {"$lte": now}}
        return await self.collection.find(query).limit(limit).to_list(None)

    def still_expired(self, row: Raw, now: datetime) -> Raw:
        """The condition of one update settling an expired row: nobody took it since."""
        holder = row.get(self.holder)
        return {self.key: row[self.key], self.holder: holder, self.lease: {"$lte": now}}

    def _bucket(self, moment: datetime) -> Raw:
        return {} if self.bucket is None else {self.bucket: bucket_of(moment)}

    def bucket_fields(self, due_at: datetime, now: datetime) -> Raw:
        """What a writer sets with a new due time: its bucket (not before `now`'s minute,
        which a scanner may be looking at) and a free lease."""
        return {self.lease: None, self.holder: None, **self._bucket(max(due_at, now))}


class MinuteWalk:
    """Which minute buckets a scanner asks for next.

    From the minute it last finished (less `overlap`, for clocks a little apart) up to
    now's minute, at most `chunk` minutes at a time, so a scanner back after downtime
    catches up in bounded steps. A full sweep (a range over the due field, None from
    `next`) comes first, whenever the walk is further behind than `max_behind`, and every
    `sweep_every` as a safety net: a row written into a minute already walked is still
    found."""

    def __init__(
        self,
        *,
        chunk: int = 60,
        overlap: timedelta = MINUTE,
        max_behind: timedelta = timedelta(hours=24),
        sweep_every: timedelta = timedelta(minutes=10),
    ) -> None:
        self._chunk = chunk
        self._overlap = overlap
        self._max_behind = max_behind
        self._sweep_every = sweep_every
        self._from: datetime | None = None
        self._next_sweep: datetime | None = None

    def next(self, now: datetime) -> list[datetime] | None:
        """The buckets to ask for now; None for a full sweep."""
        last = bucket_of(now)
        if self._from is None or self._next_sweep is None or now >= self._next_sweep:
            return None
        start = min(self._from, last)  # a clock set back starts over at its minute
        if last - start > self._max_behind:
            return None
        count = min(self._chunk, int((last - start) / MINUTE) + 1)
        return [start + MINUTE * step for step in range(count)]

    def done(self, now: datetime, buckets: list[datetime] | None) -> bool:
        """Everything due in `buckets` was claimed (a batch came back short); True when the
        walk reached now's minute (the scan is over)."""
        current = bucket_of(now)
        if buckets is None:
            self._next_sweep = now + self._sweep_every
            self._from = current - self._overlap
            return True
        if buckets[-1] >= current:
            self._from = current - self._overlap
            return True
        self._from = buckets[-1] + MINUTE
        return False
