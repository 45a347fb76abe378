"""`GET /api/v2/tickets/statistics` on a seeded history whose figures the test works out
itself from the seed plan (never from what the service stored)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from contracts import names
from contracts.enums import AgentRole, Category, Priority, TicketStatus
from infra.clock import MovableClock
from services.ticket_service.documents import TicketDocument
from services.ticket_service.rollups import APPLIED, WRITER
from tests.support.api import SERVICE, api_client, api_settings, bearer
from tests.support.factories import SYSTEM, agent_actor, create_body, make_agent
from tests.support.system import Caller, Endpoints, client, published
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

START = datetime(2026, 2, 2, 8, 0, tzinfo=UTC)
MINUTE_MS = 60_000
FIRST_RESPONSE_TARGET = {"urgent": 15, "high": 60, "medium": 240, "low": 1440}  # minutes
RESOLUTION_TARGET = {"urgent": 240, "high": 1440, "medium": 4320, "low": 10080}


@dataclass(frozen=True)
class Seed:
    priority: str
    category: str
    agent: str | None  # "ana" / "bob" works it
    first_response: int | None  # minutes after creation
    resolved: int | None  # minutes after creation
    rating: int | None = None
    then: str | None = None  # "reopened" or "closed" after the resolution
    cancelled: bool = False


PLAN = [
    Seed("urgent", "technical", "ana", 10, 180, rating=5),
    Seed("urgent", "billing", "ana", 20, 300, rating=3),
    Seed("high", "technical", "bob", 30, 600, rating=4, then="reopened"),
    Seed("medium", "support", "bob", 300, None),
    Seed("low", "support", None, None, None, cancelled=True),
    Seed("medium", "billing", "bob", 60, 1000, rating=2, then="closed"),
]


async def _play(
    caller: Caller, clock: MovableClock, seed: Seed, phone: str, agents: dict[str, str]
) -> None:
    """Create the ticket at the clock's time and act at the planned minutes after it."""
    created_at = clock.now()
    body = create_body(phone)
    ticket = await caller.ok(
        names.CREATE,
        {**body, "actor": SYSTEM, "priority": seed.priority, "category": seed.category},
    )
    as_system = {"actor": SYSTEM, "ticketId": ticket["ticketId"]}
    agent = agents[seed.agent] if seed.agent else None
    as_agent = {"actor": agent_actor(agent), "ticketId": ticket["ticketId"]} if agent else {}
    if agent:
        clock.set(created_at + timedelta(minutes=1))
        await caller.ok(names.ASSIGN, {**as_system, "agentId": agent})
    if seed.first_response is not None:
        clock.set(created_at + timedelta(minutes=seed.first_response))
        await caller.ok(names.MARK_FIRST_RESPONSE, as_system)
    if seed.resolved is not None:
        clock.set(created_at + timedelta(minutes=seed.resolved))
        await caller.ok(names.CHANGE_STATUS, {**as_agent, "status": "resolved"})
        if seed.rating is not None:
            await caller.ok(names.RATE, {**as_system, "rating": seed.rating})
        if seed.then is not None:
            clock.advance(timedelta(minutes=5))
            await caller.ok(names.CHANGE_STATUS, {**as_agent, "status": seed.then})
    if seed.cancelled:
        await caller.ok(names.CHANGE_STATUS, {**as_system, "status": "cancelled"})


async def _rollups_at_every_revision() -> bool:
    tickets = TicketDocument.get_pymongo_collection()
    database = tickets.database
    writer = await database[WRITER].find_one({"_id": "writer"})
    assert writer is not None, "no statistics writer yet"
    assert writer.get("ready"), "the first statistics rebuild has not run yet"
    assert writer.get("pending") is None, f"an operation is under way: {writer['pending']}"
    stored = {
        t["ticketId"]: t["revision"] async for t in tickets.find({}, {"revision": 1, "ticketId": 1})
    }
    counted = {a["_id"]: a.get("revision") async for a in database[APPLIED].find({})}
    behind = {t: (r, counted.get(t)) for t, r in stored.items() if counted.get(t) != r}
    assert not behind, f"tickets whose statistics lag (stored, counted): {behind}"
    return True


async def rollups_current() -> None:
    """Waits until every ticket's event has been published and counted in the rollups at
    the ticket's stored revision (the statistics follow the events, a moment behind)."""
    await published()
    await eventually(_rollups_at_every_revision, what="statistics rollups at every revision")


def _avg(values: Sequence[float]) -> float | None:
    return mean(values) if values else None


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def _final_status(seed: Seed) -> str:
    if seed.cancelled:
        return "cancelled"
    if seed.then:
        return seed.then
    if seed.resolved is not None:
        return "resolved"
    return "in_progress" if seed.agent else "new"


def _breached(seed: Seed) -> bool:
    """First response late, or resolved late with the verdict standing (a reopen drops it)."""
    late_response = (seed.first_response or 0) > FIRST_RESPONSE_TARGET[seed.priority]
    judged = seed.resolved is not None and seed.then != "reopened"
    return late_response or (judged and (seed.resolved or 0) > RESOLUTION_TARGET[seed.priority])


def _per_day(created: list[datetime], zone: str) -> list[dict[str, Any]]:
    days = [moment.astimezone(ZoneInfo(zone)).date() for moment in created]
    first, last = min(days), max(days)
    span = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [{"date": day.isoformat(), "count": days.count(day)} for day in span]


def seed_keys(plan: list[Seed], created: list[datetime], zone: str = "UTC") -> dict[str, Any]:
    """The customer's plan's keys, worked out from the plan like its `$group` would."""
    statuses = [_final_status(s) for s in plan]
    responses = [s.first_response * MINUTE_MS for s in plan if s.first_response is not None]
    resolutions = [s.resolved * MINUTE_MS for s in plan if s.resolved is not None]
    return {
        "new": statuses.count("new"),
        "open": statuses.count("open"),
        "inProgress": statuses.count("in_progress"),
        "pendingCustomer": statuses.count("pending_customer"),
        "resolved": statuses.count("resolved"),
        "closed": statuses.count("closed"),
        "cancelled": statuses.count("cancelled"),
        "reopened": statuses.count("reopened"),
        "avgFirstResponseTime": _avg(responses) if plan else 0,
        "avgResolutionTime": _avg(resolutions) if plan else 0,
        "slaBreaches": sum(_breached(s) for s in plan),
        "timezone": zone,
        "ticketsPerDay": _per_day(created, zone) if plan else [],
    }


def expected(
    plan: list[Seed], agents: dict[str, str], created: list[datetime], zone: str = "UTC"
) -> dict[str, Any]:
    """The report, worked out from the plan with plain arithmetic."""

    def times(attribute: str, keep: Any = lambda _: True) -> list[float]:
        return [
            getattr(s, attribute) * MINUTE_MS
            for s in plan
            if getattr(s, attribute) is not None and keep(s)
        ]

    def averages(attribute: str) -> dict[str, Any]:
        return {
            "overall": _avg(times(attribute)),
            "byPriority": {
                p: _avg(times(attribute, lambda s, p=p: s.priority == p)) for p in Priority
            },
            "byCategory": {
                c: _avg(times(attribute, lambda s, c=c: s.category == c)) for c in Category
            },
        }

    responded = [s for s in plan if s.first_response is not None]
    fr_met = sum(s.first_response <= FIRST_RESPONSE_TARGET[s.priority] for s in responded)  # type: ignore[operator]
    judged = [s for s in plan if s.resolved is not None and s.then != "reopened"]
    res_met = sum(s.resolved <= RESOLUTION_TARGET[s.priority] for s in judged)  # type: ignore[operator]
    resolved = [s for s in plan if s.resolved is not None]
    reopened = sum(s.then == "reopened" for s in plan)
    ratings = [s.rating for s in plan if s.rating is not None]
    per_agent = []
    for name, agent_id in sorted(agents.items(), key=lambda item: item[1]):
        theirs = [s for s in resolved if s.agent == name]
        per_agent.append(
            {
                "agentId": agent_id,
                "name": name.title(),
                "resolved": len(theirs),
                "avgResolutionTime": _avg([s.resolved * MINUTE_MS for s in theirs]),  # type: ignore[operator]
                "avgFirstResponseTime": _avg(
                    [s.first_response * MINUTE_MS for s in theirs]  # type: ignore[operator]
                ),
                "avgSatisfaction": _avg([s.rating for s in theirs if s.rating]),
            }
        )
    return {
        **seed_keys(plan, created, zone),
        "total": len(plan),
        "byStatus": {s: sum(_final_status(x) == s for x in plan) for s in TicketStatus},
        "firstResponseTime": averages("first_response"),
        "resolutionTime": averages("resolved"),
        "sla": {
            "firstResponse": {
                "met": fr_met,
                "missed": len(responded) - fr_met,
                "percent": _pct(fr_met, len(responded)),
            },
            "resolution": {
                "met": res_met,
                "missed": len(judged) - res_met,
                "percent": _pct(res_met, len(judged)),
            },
        },
        "reopenRate": {
            "reopened": reopened,
            "resolvedEver": len(resolved),
            "percent": _pct(reopened, len(resolved)),
        },
        "satisfaction": {"average": _avg(ratings), "count": len(ratings)},
        "agents": [a for a in per_agent if a["resolved"]],
    }


async def test_statistics_match_the_figures_worked_out_from_the_seed(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(START)
    settings = api_settings(endpoints, database)
    async with api_client(settings, clock) as api, client(endpoints.rabbit_url) as (caller, _):
        agents = {"ana": await make_agent("Ana"), "bob": await make_agent("Bob")}
        boss = await make_agent("Boss", AgentRole.ADMIN)
        starts = []
        for day, seed in enumerate(PLAN):
            clock.set(START + timedelta(days=10 * day))
            starts.append(clock.now())
            await _play(caller, clock, seed, f"+3462{day:07d}", agents)
        await rollups_current()
        as_boss = bearer(settings, boss, now=clock.now())
        everything = await api.get("/api/v2/tickets/statistics", headers=as_boss)
        later_half = await api.get(
            "/api/v2/tickets/statistics",
            params={"createdFrom": starts[3].isoformat(), "createdTo": starts[5].isoformat()},
            headers=as_boss,
        )
        anas_view = await api.get(
            "/api/v2/tickets/statistics", headers=bearer(settings, agents["ana"], now=clock.now())
        )
        by_service = await api.get("/api/v2/tickets/statistics", headers=SERVICE)
        far_west = await api.get(
            "/api/v2/tickets/statistics",
            params={"timezone": "America/Anchorage"},
            headers=as_boss,
        )
        nowhere = await api.get(
            "/api/v2/tickets/statistics", params={"timezone": "Mars/Olympus"}, headers=as_boss
        )
        nothing = await api.get(
            "/api/v2/tickets/statistics",
            params={"createdFrom": (clock.now() + timedelta(days=1)).isoformat()},
            headers=as_boss,
        )
        backwards = await api.get(
            "/api/v2/tickets/statistics",
            params={"createdFrom": starts[5].isoformat(), "createdTo": starts[0].isoformat()},
            headers=as_boss,
        )
    report = everything.json()["data"]
    assert report.pop("range") == {"createdFrom": None, "createdTo": None}
    assert report == expected(PLAN, agents, starts)
    assert later_half.json()["data"]["total"] == 3
    later = later_half.json()["data"]
    later.pop("range")
    assert later == expected(PLAN[3:], agents, starts[3:])
    west = far_west.json()["data"]
    west.pop("range")
    assert west == expected(PLAN, agents, starts, "America/Anchorage")
    assert west["ticketsPerDay"][0]["date"] == "2026-02-01"  # 08:00 UTC is 23:00 the day before
    assert "timezone" in nowhere.json()["error"]
    assert nowhere.status_code == 422
    empty = nothing.json()["data"]
    assert (empty["total"], empty["avgFirstResponseTime"], empty["slaBreaches"]) == (0, 0, 0)
    assert empty["ticketsPerDay"] == []
    assert anas_view.json()["data"]["total"] == 3  # her two tickets and the unassigned one
    assert by_service.json()["data"]["total"] == len(PLAN)
    assert backwards.status_code == 422
