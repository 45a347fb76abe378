"""Ticket numbers: `TICKET-<year>-<sequence>`, never duplicated and without gaps, whatever
dies when.

A number is taken by one atomic update of the year's counter document that also records
who took it: `pending` holds `{key, n, at}` for every creation between taking its number
and storing its ticket. So:

- asking again with the same creation key (a retry, a take-over, a concurrent duplicate)
  gets the same number back instead of a new one, and renews its lease;
- a number whose creator died before storing its ticket is given to the next creation
  once it is `lease` old (its key can still come back: it then gets a fresh number);
- the ticket's unique `ticketId` settles any race: a creator whose insert finds its
  number taken forgets that number (`taken`) and asks again;
- a creator stores its ticket within half the lease (`insert_budget_seconds`) or gives up,
  so a number is taken over only once its holder can no longer store it: a retry never
  gets a new number while an older try may still store the old one (a gap).

Entries are removed once their ticket is stored: `stored()` queues the key and the next
number taken (or `flush()`) moves it from `pending` to `stored`, the keys of the last
`STORED_KEPT` stored tickets, in the same update, so a creation costs one update here.
A key found in `stored` gets no number: its ticket exists. That is what a second copy of a
request needs when both copies found no ticket under their key before the first stored
it: without it, the second took a fresh number, found the key stored at its insert and
freed the number, which stayed unused until some later creation took it (a gap).

Without transactions this is the only way a number and its owner are written together:
counting first and recording the number in a second write burns the number if the
process dies in between.
"""

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

Raw = dict[str, Any]
GIVEN_UP = datetime(1970, 1, 1, tzinfo=UTC)
STORED_KEPT = 100
"""Keys of stored tickets the counter remembers (each a few dozen bytes)."""


def _not_in(field: str, values: list[Any]) -> Raw:
    return {"$eq": [{"$in": [f"$$this.{field}", values]}, False]}


def _forgetting(forget: list[str], taken: list[int]) -> Raw:
    """The stage that moves the entries of stored tickets from `pending` to `stored` and
    drops the numbers found taken."""
    kept = {"$and": [_not_in("key", forget), _not_in("n", taken)]}
    stored = {"$concatArrays": [{"$ifNull": ["$stored", []]}, {"$literal": forget}]}
    return {
        "$set": {
            "lastSequence": {"$ifNull": ["$lastSequence", 0]},
            "pending": {"$filter": {"input": {"$ifNull": ["$pending", []]}, "cond": kept}},
            "stored": {"$slice": [stored, -STORED_KEPT]},
        }
    }


def _allocation(
    key: str, now: datetime, stale: datetime, forget: list[str], taken: list[int]
) -> list[Raw]:
    """The update pipeline: forget stored entries, then (unless `key` is stored) keep,
    adopt or take a number."""
    mine = {"key": {"$literal": key}, "at": now}
    is_mine = {"$eq": ["$$this.key", {"$literal": key}]}
    renewed = {
        "$map": {
            "input": "$pending",
            "in": {"$cond": [is_mine, {**mine, "n": "$$this.n"}, "$$this"]},
        }
    }
    return [
        _forgetting(forget, taken),
        {
            "$set": {
                "_done": {"$in": [{"$literal": key}, "$stored"]},
                "_held": {"$in": [{"$literal": key}, "$pending.key"]},
                "_stale": {
                    "$first": {
                        "$filter": {"input": "$pending", "cond": {"$lte": ["$$this.at", stale]}}
                    }
                },
            }
        },
        {
            "$set": {
                "_adopt": {
                    "$cond": [
                        {"$or": ["$_done", "$_held"]},
                        None,
                        {"$ifNull": ["$_stale.n", None]},
                    ]
                }
            }
        },
        {
            "$set": {
                "lastSequence": {
                    "$cond": [
                        {"$or": ["$_done", "$_held", {"$ne": ["$_adopt", None]}]},
                        "$lastSequence",
                        {"$add": ["$lastSequence", 1]},
                    ]
                }
            }
        },
        {
            "$set": {
                "pending": {
                    "$switch": {
                        "branches": [
                            {"case": "$_done", "then": "$pending"},
                            {"case": "$_held", "then": renewed},
                            {
                                "case": {"$ne": ["$_adopt", None]},
                                "then": {
                                    "$map": {
                                        "input": "$pending",
                                        "in": {
                                            "$cond": [
                                                {"$eq": ["$$this.n", "$_adopt"]},
                                                {**mine, "n": "$_adopt"},
                                                "$$this",
                                            ]
                                        },
                                    }
                                },
                            },
                        ],
                        "default": {
                            "$concatArrays": ["$pending", [{**mine, "n": "$lastSequence"}]]
                        },
                    }
                }
            }
        },
        {"$unset": ["_done", "_held", "_stale", "_adopt"]},
    ]


@dataclass(frozen=True, slots=True)
class Reservation:
    number: int
    stale: tuple[int, ...]
    """Numbers held past the lease by other keys: abandoned, or stored and not yet
    cleared. When `number` (one of them, adopted) turns out taken, the creator looks up
    which of these are stored and forgets them all at once."""


class SequenceAllocator:
    def __init__(self, counters: AsyncCollection[Raw], lease: timedelta) -> None:
        self._counters = counters
        self._lease = lease
        self._stored: defaultdict[int, set[str]] = defaultdict(set)

    @property
    def insert_budget_seconds(self) -> float:
        """How long a creator may take from reserving a number to storing its ticket.
        Half the lease: a number is only taken over once its holder can no longer store
        it, so a retry of the holder's key always finds its own number, never a new one
        while the first try may still store the old one (which would leave a gap)."""
        return self._lease.total_seconds() / 2

    async def number_for(
        self, year: int, key: str, now: datetime, taken: Collection[int] = ()
    ) -> Reservation | None:
        """The number reserved for `key` this year (the same on every call until its
        ticket is stored); None once its ticket is stored. `taken`: numbers found to
        belong to stored tickets."""
        forget = sorted(self._stored[year])
        stale = now - self._lease
        pipeline = _allocation(key, now, stale, forget, sorted(taken))
        try:
            counter = await self._update(year, key, pipeline)
        except DuplicateKeyError:  # two first numbers of a year: the loser finds the document
            counter = await self._update(year, key, pipeline)
        self._stored[year].difference_update(forget)
        if counter.get("stored"):
            return None
        pending: list[Raw] = counter["pending"]
        number = next(int(entry["n"]) for entry in pending if entry["key"] == key)
        others = (int(e["n"]) for e in pending if e["key"] != key and e["at"] <= stale)
        return Reservation(number, tuple(others))

    async def _update(self, year: int, key: str, pipeline: list[Raw]) -> Raw:
        counter = await self._counters.find_one_and_update(
            {"year": year},
            pipeline,
            upsert=True,
            return_document=ReturnDocument.AFTER,
            projection={"pending": 1, "stored": {"$elemMatch": {"$eq": key}}},
        )
        assert counter is not None  # an upsert returning the document after always has one
        return counter

    def stored(self, year: int, *keys: str) -> None:
        """The tickets of these keys are stored: their entries can go."""
        self._stored[year].update(keys)

    async def release(self, year: int, key: str) -> None:
        """`key`'s number turned out unused (its ticket was stored under another number,
        after a lost reply): taken back if it is still the last one issued, otherwise
        given to the next creation."""
        mine = {"$eq": ["$$this.key", {"$literal": key}]}
        last = {"$eq": ["$_mine.n", "$lastSequence"]}
        freed = {"key": {"$concat": ["released:", "$$this.key"]}, "n": "$$this.n", "at": GIVEN_UP}
        others = {"$filter": {"input": "$pending", "cond": {"$eq": [mine, False]}}}
        marked = {"$map": {"input": "$pending", "in": {"$cond": [mine, freed, "$$this"]}}}
        pipeline: list[Raw] = [
            {"$set": {"_mine": {"$first": {"$filter": {"input": "$pending", "cond": mine}}}}},
            {
                "$set": {
                    "lastSequence": {
                        "$cond": [last, {"$subtract": ["$lastSequence", 1]}, "$lastSequence"]
                    },
                    "pending": {"$cond": [last, others, marked]},
                }
            },
            {"$unset": "_mine"},
        ]
        await self._counters.update_one({"year": year}, pipeline)

    async def flush(self) -> None:
        """Move the entries of stored tickets now (idle time, shutdown)."""
        for year, keys in list(self._stored.items()):
            if not keys:
                continue
            forget = sorted(keys)
            await self._counters.update_one({"year": year}, [_forgetting(forget, [])])
            keys.difference_update(forget)
