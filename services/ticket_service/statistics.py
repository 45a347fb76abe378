"""Ticket statistics over a createdAt range, computed by one Mongo aggregation.

Mongo groups the tickets by (status, priority, category, resolvedBy) and sums what every
figure needs, and (in the same `$facet`) counts the tickets created each day in the
query's time zone; `fold` combines those partial sums into the report. Sums and counts add up
exactly, so every average and rate is the one a pass over the raw tickets would give.
Times are milliseconds (the unit of the ticket's own `firstResponseTime` and
`resolutionTime`); rates are percentages rounded to two decimals.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated, Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, Field, model_validator
from pymongo.asynchronous.collection import AsyncCollection

from contracts.actors import Actor
from contracts.base import WireModel
from contracts.commands import Moment
from contracts.enums import Category, Priority, TicketStatus
from services.ticket_service.documents import Agent
from services.ticket_service.rollup_reader import RollupReader
from services.ticket_service.rollups import (
    EVERYONE,
    POOL,
    key_value,
)


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError("not a time zone name like Europe/Madrid or UTC") from error
    return name


TimeZoneName = Annotated[
    str,
    Field(max_length=64, description="IANA time zone the days of `ticketsPerDay` are cut in"),
    AfterValidator(_known_zone),
]


class StatisticsQuery(WireModel):
    actor: Actor
    timezone: TimeZoneName = "UTC"
    created_from: Moment | None = Field(
        default=None, description="Only tickets created at or after this moment"
    )
    created_to: Moment | None = Field(
        default=None, description="Only tickets created at or before this moment"
    )

    @model_validator(mode="after")
    def _ordered(self) -> "StatisticsQuery":
        if self.created_from and self.created_to and self.created_from > self.created_to:
            raise ValueError("createdFrom must not be after createdTo")
        return self


class TimeAverages(WireModel):
    """Average milliseconds; null where no ticket has the time yet."""

    overall: float | None
    by_priority: dict[Priority, float | None]
    by_category: dict[Category, float | None]


class Compliance(WireModel):
    met: int
    missed: int
    percent: float | None = Field(description="met / (met + missed) * 100; null when both 0")


class SlaFigures(WireModel):
    first_response: Compliance
    resolution: Compliance


class ReopenFigures(WireModel):
    reopened: int = Field(description="Tickets reopened at least once")
    resolved_ever: int = Field(description="Tickets resolved or closed at least once")
    percent: float | None


class Satisfaction(WireModel):
    average: float | None = Field(description="Average CSAT rating, 1-5")
    count: int


class AgentFigures(WireModel):
    agent_id: str
    name: str | None
    resolved: int = Field(description="Tickets this agent resolved (resolvedBy)")
    avg_resolution_time: float | None
    avg_first_response_time: float | None
    avg_satisfaction: float | None


class Range(WireModel):
    created_from: AwareDatetime | None
    created_to: AwareDatetime | None


class DayCount(WireModel):
    date: str = Field(description="YYYY-MM-DD in the query's time zone")
    count: int = Field(description="Tickets created that day")


class SeedFigures(WireModel):
    """The customer's plan's dashboard keys (its `getTicketStatistics`), beside ours."""

    new: int
    open: int
    in_progress: int
    pending_customer: int
    resolved: int
    closed: int
    cancelled: int
    reopened: int
    avg_first_response_time: float | None = Field(
        description="Milliseconds; 0 when no ticket matches, null when none has one yet"
    )
    avg_resolution_time: float | None = Field(
        description="Milliseconds; 0 when no ticket matches, null when none has one yet"
    )
    sla_breaches: int = Field(description="Tickets whose first response or resolution missed")


class TicketStatistics(SeedFigures):
    range: Range
    timezone: str
    total: int
    by_status: dict[TicketStatus, int]
    first_response_time: TimeAverages
    resolution_time: TimeAverages
    sla: SlaFigures
    reopen_rate: ReopenFigures
    satisfaction: Satisfaction
    agents: list[AgentFigures]
    tickets_per_day: list[DayCount] = Field(
        description="Oldest first; days without tickets between the first and the last are 0"
    )


def _present(path: str) -> dict[str, Any]:
    return {"$cond": [{"$ne": [{"$ifNull": [path, None]}, None]}, 1, 0]}


def _equals(path: str, value: object) -> dict[str, Any]:
    return {"$cond": [{"$eq": [path, value]}, 1, 0]}


_RESOLVED_EVER = {
    "$or": [
        {"$ne": [{"$ifNull": ["$resolvedAt", None]}, None]},
        {"$ne": [{"$ifNull": ["$closedAt", None]}, None]},
    ]
}
_SUMS: dict[str, Any] = {
    "tickets": {"$sum": 1},
    "frSum": {"$sum": "$firstResponseTime"},
    "frCount": {"$sum": _present("$firstResponseTime")},
    "resSum": {"$sum": "$resolutionTime"},
    "resCount": {"$sum": _present("$resolutionTime")},
    "frMet": {"$sum": _equals("$sla.firstResponseMet", True)},
    "frMissed": {"$sum": _equals("$sla.firstResponseMet", False)},
    "resMet": {"$sum": _equals("$sla.resolutionMet", True)},
    "resMissed": {"$sum": _equals("$sla.resolutionMet", False)},
    "reopened": {"$sum": {"$cond": [{"$gt": ["$reopenCount", 0]}, 1, 0]}},
    "resolvedEver": {"$sum": {"$cond": [_RESOLVED_EVER, 1, 0]}},
    "csatSum": {"$sum": "$customerSatisfaction.rating"},
    "csatCount": {"$sum": _present("$customerSatisfaction.rating")},
    "breached": {
        "$sum": {
            "$cond": [
                {
                    "$or": [
                        {"$eq": ["$sla.firstResponseMet", False]},
                        {"$eq": ["$sla.resolutionMet", False]},
                    ]
                },
                1,
                0,
            ]
        }
    },
}


def pipeline(match: dict[str, Any], timezone: str = "UTC") -> list[dict[str, Any]]:
    """One aggregation: the partial sums by group, and the tickets created each day."""
    key = {"status": "$status", "priority": "$priority", "category": "$category"}
    day = {"$dateToString": {"format": "%Y-%m-%d", "date": "$createdAt", "timezone": timezone}}
    return [
        {"$match": match},
        {
            "$facet": {
                "groups": [{"$group": {"_id": {**key, "resolvedBy": "$resolvedBy"}, **_SUMS}}],
                "perDay": [{"$group": {"_id": day, "count": {"$sum": 1}}}],
            }
        },
    ]


@dataclass
class Sums:
    """Partial sums of one group of tickets; adding two gives the sums of their union."""

    values: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_SUMS, 0.0))

    @classmethod
    def of(cls, rows: Iterable[Mapping[str, Any]]) -> "Sums":
        sums = cls()
        for row in rows:
            sums.add(row)
        return sums

    def add(self, row: Mapping[str, Any]) -> None:
        for name in _SUMS:
            self.values[name] += row.get(name) or 0

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def average(self, total: str, count: str) -> float | None:
        return self[total] / self[count] if self[count] else None


def _percent(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def _compliance(sums: Sums, met: str, missed: str) -> Compliance:
    return Compliance(
        met=int(sums[met]),
        missed=int(sums[missed]),
        percent=_percent(sums[met], sums[met] + sums[missed]),
    )


def _grouped(rows: Iterable[Mapping[str, Any]], key: str) -> dict[str, Sums]:
    groups: dict[str, Sums] = {}
    for row in rows:
        value = row["_id"].get(key)
        if value is not None:
            groups.setdefault(str(value), Sums()).add(row)
    return groups


@dataclass
class Figures:
    """The marginal sums the report is made of: overall, and by status, priority,
    category and resolving agent. Adding two gives the figures of their union."""

    overall: Sums = field(default_factory=Sums)
    by_status: dict[str, Sums] = field(default_factory=dict)
    by_priority: dict[str, Sums] = field(default_factory=dict)
    by_category: dict[str, Sums] = field(default_factory=dict)
    by_agent: dict[str, Sums] = field(default_factory=dict)

    @classmethod
    def of_rows(cls, rows: Sequence[Mapping[str, Any]]) -> "Figures":
        """From the aggregation's groups (one row per status/priority/category/agent)."""
        return cls(
            overall=Sums.of(rows),
            by_status=_grouped(rows, "status"),
            by_priority=_grouped(rows, "priority"),
            by_category=_grouped(rows, "category"),
            by_agent=_grouped(rows, "resolvedBy"),
        )

    def add(self, other: "Figures") -> None:
        self.overall.add(other.overall.values)
        for mine, theirs in (
            (self.by_status, other.by_status),
            (self.by_priority, other.by_priority),
            (self.by_category, other.by_category),
            (self.by_agent, other.by_agent),
        ):
            for key, sums in theirs.items():
                mine.setdefault(key, Sums()).add(sums.values)

    def add_bucket(self, bucket: Mapping[str, Any]) -> None:
        """A rollup bucket: `all` and the nested sums by `status`, `priority`, `category`
        and `agent` (keys escaped by `rollups.field_key`)."""
        self.overall.add(bucket.get("all") or {})
        for mine, name in (
            (self.by_status, "status"),
            (self.by_priority, "priority"),
            (self.by_category, "category"),
            (self.by_agent, "agent"),
        ):
            for key, sums in (bucket.get(name) or {}).items():
                mine.setdefault(key_value(key), Sums()).add(sums)


def _averages(figures: Figures, total: str, count: str) -> TimeAverages:
    by_priority, by_category = figures.by_priority, figures.by_category
    return TimeAverages(
        overall=figures.overall.average(total, count),
        by_priority={p: by_priority.get(p, Sums()).average(total, count) for p in Priority},
        by_category={c: by_category.get(c, Sums()).average(total, count) for c in Category},
    )


def _seed_average(sums: Sums, total: str, count: str) -> float | None:
    """The plan's `$avg`, with its fallback of 0 when nothing matched at all."""
    return sums.average(total, count) if sums["tickets"] else 0


def seed_figures(rows: Sequence[Mapping[str, Any]] | Figures) -> SeedFigures:
    figures = rows if isinstance(rows, Figures) else Figures.of_rows(rows)
    overall, by_status = figures.overall, figures.by_status
    counts = {str(s): int(by_status.get(s, Sums())["tickets"]) for s in TicketStatus}
    return SeedFigures(
        **counts,
        avg_first_response_time=_seed_average(overall, "frSum", "frCount"),
        avg_resolution_time=_seed_average(overall, "resSum", "resCount"),
        sla_breaches=int(overall["breached"]),
    )


def per_day(rows: Iterable[Mapping[str, Any]]) -> list[DayCount]:
    """Every day from the first to the last with tickets, quiet days as 0."""
    counts = {date.fromisoformat(str(row["_id"])): int(row["count"]) for row in rows}
    if not counts:
        return []
    first, last = min(counts), max(counts)
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [DayCount(date=day.isoformat(), count=counts.get(day, 0)) for day in days]


def fold(
    rows: Sequence[Mapping[str, Any]] | Figures,
    query: StatisticsQuery,
    names: Mapping[str, str | None],
    days: Sequence[Mapping[str, Any]] = (),
) -> TicketStatistics:
    figures = rows if isinstance(rows, Figures) else Figures.of_rows(rows)
    overall, by_status = figures.overall, figures.by_status
    agents = sorted((a, s) for a, s in figures.by_agent.items() if s["tickets"])
    return TicketStatistics(
        **seed_figures(figures).model_dump(),
        range=Range(created_from=query.created_from, created_to=query.created_to),
        timezone=query.timezone,
        tickets_per_day=per_day(days),
        total=int(overall["tickets"]),
        by_status={s: int(by_status.get(s, Sums())["tickets"]) for s in TicketStatus},
        first_response_time=_averages(figures, "frSum", "frCount"),
        resolution_time=_averages(figures, "resSum", "resCount"),
        sla=SlaFigures(
            first_response=_compliance(overall, "frMet", "frMissed"),
            resolution=_compliance(overall, "resMet", "resMissed"),
        ),
        reopen_rate=ReopenFigures(
            reopened=int(overall["reopened"]),
            resolved_ever=int(overall["resolvedEver"]),
            percent=_percent(overall["reopened"], overall["resolvedEver"]),
        ),
        satisfaction=Satisfaction(
            average=overall.average("csatSum", "csatCount"), count=int(overall["csatCount"])
        ),
        agents=[
            AgentFigures(
                agent_id=agent_id,
                name=names.get(agent_id),
                resolved=int(sums["tickets"]),
                avg_resolution_time=sums.average("resSum", "resCount"),
                avg_first_response_time=sums.average("frSum", "frCount"),
                avg_satisfaction=sums.average("csatSum", "csatCount"),
            )
            for agent_id, sums in agents
        ],
    )


class AgentLookup(Protocol):
    async def get(self, agent_id: str) -> Agent | None: ...


def match_for(query: StatisticsQuery, scope: dict[str, Any]) -> dict[str, Any]:
    created = {
        op: moment
        for op, moment in (("$gte", query.created_from), ("$lte", query.created_to))
        if moment is not None
    }
    conditions = [c for c in ({"createdAt": created} if created else {}, scope) if c]
    return {"$and": conditions} if conditions else {}


def rollup_scopes(scope: Mapping[str, Any]) -> list[str] | None:
    """The rollup scopes that add up to what `scope` may read; None for a customer (their
    own tickets are few: they are read directly)."""
    if not scope:
        return [EVERYONE]
    agents = scope.get("assignedAgent", {}).get("$in") if len(scope) == 1 else None
    if isinstance(agents, list) and len(agents) == 2 and agents[0] is None:
        return [POOL, str(agents[1])]
    return None


async def _names(agents: AgentLookup, figures: Figures) -> dict[str, str | None]:
    names: dict[str, str | None] = {}
    for agent_id, sums in figures.by_agent.items():
        if sums["tickets"]:
            agent = await agents.get(agent_id)
            names[agent_id] = agent.name if agent else None
    return names


async def scan(
    tickets: AsyncCollection[dict[str, Any]],
    agents: AgentLookup,
    query: StatisticsQuery,
    scope: dict[str, Any],
) -> TicketStatistics:
    """The figures by one aggregation over the tickets themselves: what the rollups must
    equal, and the way for a customer (their own few tickets) or before the first rebuild."""
    cursor = await tickets.aggregate(pipeline(match_for(query, scope), query.timezone))
    [facets] = await cursor.to_list()
    figures = Figures.of_rows(facets["groups"])
    return fold(figures, query, await _names(agents, figures), facets["perDay"])


async def compute(
    tickets: AsyncCollection[dict[str, Any]],
    agents: AgentLookup,
    query: StatisticsQuery,
    scope: dict[str, Any],
) -> TicketStatistics:
    """From the rollups (`rollup_reader.py`) where they serve this scope, else by `scan`."""
    scopes = rollup_scopes(scope)
    reader = RollupReader(tickets)
    if scopes is None or not await reader.ready():
        return await scan(tickets, agents, query, scope)
    zone = ZoneInfo(query.timezone)
    collected = await reader.collect(query.created_from, query.created_to, zone, scopes)
    figures = Figures()
    for bucket in collected.buckets:
        figures.add_bucket(bucket)
    return fold(figures, query, await _names(agents, figures), collected.per_day())
