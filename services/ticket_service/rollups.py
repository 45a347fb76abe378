"""Statistics rollups: what one ticket adds to the figures, and the buckets that hold them.

A ticket counts in the buckets of the moment it was created (the statistics are over the
tickets created in a range), once in the scope `*` (everyone's figures) and once in its
assignee's scope (`-` for the unassigned pool), which is what an agent may read.

Two documents per UTC day and scope hold the same sums: the day's (`ticket_stats_days`,
also counting the tickets created in each of its 96 quarter hours under `slots`, so a day
in any time zone — every real UTC offset is a whole number of quarter hours — can be
assembled) and each quarter hour's under `q.<0-95>` and each hour's under `h.<0-23>`
(`ticket_stats_quarters`, read only for the days at the ragged ends of a range, by `_id`,
as whole hours and at most three quarter hours either side). Inside a bucket the
sums are marginals (`all`, and by status, priority, category and resolving agent), which is
all the report needs, so one document holds a day of a scope however varied its tickets.

Pure: no I/O here (the writer is `rollup_writer.py`, the reader `rollup_reader.py`).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

DAYS = "ticket_stats_days"
QUARTERS = "ticket_stats_quarters"
APPLIED = "ticket_stats_applied"
WRITER = "ticket_stats_writer"

SLOT = timedelta(minutes=15)
DAY = timedelta(days=1)
EVERYONE = "*"
POOL = "-"

TIME_SUMS = ("tickets", "frSum", "frCount", "resSum", "resCount")
AGENT_SUMS = (*TIME_SUMS, "csatSum", "csatCount")

PROJECTION = {
    "_id": 0,
    "ticketId": 1,
    "revision": 1,
    "createdAt": 1,
    "status": 1,
    "priority": 1,
    "category": 1,
    "assignedAgent": 1,
    "resolvedBy": 1,
    "firstResponseTime": 1,
    "resolutionTime": 1,
    "sla.firstResponseMet": 1,
    "sla.resolutionMet": 1,
    "reopenCount": 1,
    "resolvedAt": 1,
    "closedAt": 1,
    "customerSatisfaction.rating": 1,
}
"""The ticket fields the figures read."""


def _number(value: object) -> float:
    """What Mongo's `$sum` adds for a field: numbers, nothing for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return value


def _present(value: object) -> int:
    return 0 if value is None else 1


def ticket_sums(ticket: Mapping[str, Any]) -> dict[str, float]:
    """One ticket's part of every sum of `statistics._SUMS`, the same expressions in Python
    (Mongo's `$eq: true` is not Python's `== True`: 1 is not true there)."""
    sla = ticket.get("sla") or {}
    rating = (ticket.get("customerSatisfaction") or {}).get("rating")
    fr_met, res_met = sla.get("firstResponseMet"), sla.get("resolutionMet")
    reopens = ticket.get("reopenCount")
    return {
        "tickets": 1,
        "frSum": _number(ticket.get("firstResponseTime")),
        "frCount": _present(ticket.get("firstResponseTime")),
        "resSum": _number(ticket.get("resolutionTime")),
        "resCount": _present(ticket.get("resolutionTime")),
        "frMet": int(fr_met is True),
        "frMissed": int(fr_met is False),
        "resMet": int(res_met is True),
        "resMissed": int(res_met is False),
        "reopened": int(_number(reopens) > 0),
        "resolvedEver": int(
            ticket.get("resolvedAt") is not None or ticket.get("closedAt") is not None
        ),
        "csatSum": _number(rating),
        "csatCount": _present(rating),
        "breached": int(fr_met is False or res_met is False),
    }


def field_key(value: object) -> str:
    """A value as a document key: no `.` or `$` (agent ids are hex; this is belt and braces)."""
    return str(value).replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def key_value(key: str) -> str:
    return key.replace("%2E", ".").replace("%24", "$").replace("%25", "%")


def _marginals(ticket: Mapping[str, Any], sums: Mapping[str, float]) -> dict[str, float]:
    fields = {f"all.{name}": value for name, value in sums.items()}
    fields[f"status.{field_key(ticket.get('status'))}.tickets"] = 1
    for dimension in ("priority", "category"):
        value = field_key(ticket.get(dimension))
        fields |= {f"{dimension}.{value}.{name}": sums[name] for name in TIME_SUMS}
    if ticket.get("resolvedBy") is not None:
        agent = field_key(ticket["resolvedBy"])
        fields |= {f"agent.{agent}.{name}": sums[name] for name in AGENT_SUMS}
    return {name: value for name, value in fields.items() if value}


def as_utc(moment: datetime) -> datetime:
    """A stored moment (a client without `tz_aware` reads UTC as naive), in UTC."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def slot_of(moment: datetime) -> datetime:
    """The quarter hour (UTC) a moment falls in."""
    moment = as_utc(moment)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def day_of(moment: datetime) -> datetime:
    return slot_of(moment).replace(hour=0, minute=0)


def slot_index(slot: datetime) -> int:
    return (slot.hour * 60 + slot.minute) // 15


@dataclass(frozen=True)
class Contribution:
    """What one ticket adds: `fields` in the buckets of (`scope`, `slot`) and of `*`.
    `created_at` is kept too, for the piece of a quarter hour at a range's ends."""

    scope: str
    created_at: datetime
    fields: dict[str, float]

    @property
    def slot(self) -> datetime:
        return slot_of(self.created_at)

    @classmethod
    def of(cls, ticket: Mapping[str, Any]) -> "Contribution":
        agent = ticket.get("assignedAgent")
        scope = POOL if agent is None else str(agent)
        fields = _marginals(ticket, ticket_sums(ticket))
        return cls(scope=scope, created_at=as_utc(ticket["createdAt"]), fields=fields)

    def stored(self) -> dict[str, Any]:
        fields = sorted(self.fields.items())
        return {"scope": self.scope, "createdAt": self.created_at, "fields": fields}

    @classmethod
    def load(cls, stored: Mapping[str, Any] | None) -> "Contribution | None":
        if stored is None:
            return None
        fields = {str(name): value for name, value in stored["fields"]}
        return cls(scope=stored["scope"], created_at=as_utc(stored["createdAt"]), fields=fields)

    def buckets(self) -> Iterable[tuple[str, str, dict[str, Any], dict[str, float]]]:
        """(collection, id, identifying fields, sums) of every bucket this goes into."""
        day = day_of(self.slot)
        per_slot = {f"slots.{slot_index(self.slot)}": 1}
        for scope in (EVERYONE, self.scope):
            identity = {"scope": scope, "day": day}
            yield DAYS, day_id(scope, day), identity, self.fields | per_slot
            index = slot_index(self.slot)
            parts = {f"q.{index}.{name}": v for name, v in self.fields.items()}
            parts |= {f"h.{index // 4}.{name}": v for name, v in self.fields.items()}
            yield QUARTERS, day_id(scope, day), identity, parts


def day_id(scope: str, day: datetime) -> str:
    return f"{scope}|{day:%Y-%m-%d}"


@dataclass
class BucketDelta:
    collection: str
    bucket_id: str
    identity: dict[str, Any]
    increments: dict[str, float]


def deltas(old: Contribution | None, new: Contribution | None) -> list[BucketDelta]:
    """The increments that move a ticket's part from `old` to `new`, per bucket; buckets
    whose sums do not change are left out."""
    moved: dict[tuple[str, str], BucketDelta] = {}
    for contribution, sign in ((old, -1), (new, 1)):
        if contribution is None:
            continue
        for collection, bucket_id, identity, fields in contribution.buckets():
            entry = moved.setdefault(
                (collection, bucket_id), BucketDelta(collection, bucket_id, identity, {})
            )
            for name, value in fields.items():
                entry.increments[name] = entry.increments.get(name, 0) + sign * value
    for entry in moved.values():
        entry.increments = {k: v for k, v in entry.increments.items() if v}
    return [entry for entry in moved.values() if entry.increments]


def nested(fields: Mapping[str, float]) -> dict[str, Any]:
    """Dotted field names as the nested document they name."""
    document: dict[str, Any] = {}
    for name, value in fields.items():
        *path, leaf = name.split(".")
        node = document
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = node.get(leaf, 0) + value
    return document


MILLISECOND = timedelta(milliseconds=1)


def stored_moment(moment: datetime) -> datetime:
    """A moment as Mongo keeps it: UTC, whole milliseconds (what a range filter compares)."""
    moment = as_utc(moment)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _ceil(moment: datetime, floor: datetime, step: timedelta) -> datetime:
    return floor if floor == moment else floor + step


@dataclass(frozen=True)
class RangePlan:
    """Where the figures of the tickets created in [start, end] come from: whole UTC days
    (`days`, a half-open [from, to) with None for no bound, or None for no day), whole
    quarter hours around them (`slots`, half-open), and the tickets' applied parts for the
    pieces of a quarter hour at either end (`raw`, `createdAt` conditions, each within one
    quarter hour)."""

    days: tuple[datetime | None, datetime | None] | None
    slots: tuple[tuple[datetime, datetime], ...]
    raw: tuple[dict[str, datetime], ...]


def _pieces(start: datetime, end: datetime) -> tuple[dict[str, datetime], ...]:
    """[start, end] within at most two neighbouring quarter hours, cut at their boundary."""
    if start > end:
        return ()
    boundary = slot_of(end)
    if slot_of(start) == boundary:
        return ({"$gte": start, "$lte": end},)
    return ({"$gte": start, "$lt": boundary}, {"$gte": boundary, "$lte": end})


def plan(start: datetime | None, end: datetime | None) -> RangePlan:
    start = stored_moment(start) if start is not None else None
    end = stored_moment(end) if end is not None else None
    first = _ceil(start, slot_of(start), SLOT) if start is not None else None
    stop = slot_of(end + MILLISECOND) if end is not None else None
    whole_slots = first is None or stop is None or first < stop
    if not whole_slots and start is not None and end is not None:
        return RangePlan(None, (), _pieces(start, end))
    raw: list[dict[str, datetime]] = []
    if start is not None and first is not None and start < first:
        raw.append({"$gte": start, "$lt": first})
    if end is not None and stop is not None and stop <= end:
        raw.append({"$gte": stop, "$lte": end})
    day_from = _ceil(first, day_of(first), DAY) if first is not None else None
    day_to = day_of(stop) if stop is not None else None
    whole_days = day_from is None or day_to is None or day_from < day_to
    if not whole_days and first is not None and stop is not None:
        return RangePlan(None, ((first, stop),), tuple(raw))
    slots = []
    if first is not None and day_from is not None and first < day_from:
        slots.append((first, day_from))
    if stop is not None and day_to is not None and day_to < stop:
        slots.append((day_to, stop))
    return RangePlan((day_from, day_to), tuple(slots), tuple(raw))


def hours_and_quarters(quarters: Iterable[int]) -> tuple[list[int], list[int]]:
    """A day's quarter hours (indexes 0-95) as the whole hours among them and the quarter
    hours left over: the fewest rollup entries that add up to them."""
    wanted = set(quarters)
    hours = [h for h in range(24) if all(4 * h + n in wanted for n in range(4))]
    covered = {4 * h + n for h in hours for n in range(4)}
    return hours, sorted(wanted - covered)
