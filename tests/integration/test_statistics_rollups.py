"""The statistics from the rollups equal the scan over the tickets themselves (the figures
before rollups, kept as `statistics.scan`): over a varied history played through the real
queues, for every caller's scope, ranges with ragged ends and time zones a quarter hour off;
after duplicate deliveries, a writer dying half-way, and a rebuild."""

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection

from contracts import names
from contracts.actors import SystemActor
from contracts.enums import AgentRole
from infra.clock import MovableClock
from infra.logging import correlation_id
from infra.messaging import publish_event
from infra.mongo import connect
from services.ticket_service.documents import TicketDocument
from services.ticket_service.rollup_writer import RefreshInterrupted, RollupWriter
from services.ticket_service.rollups import (
    DAYS,
    PROJECTION,
    WRITER,
    BucketDelta,
    Contribution,
    day_of,
    deltas,
)
from services.ticket_service.statistics import StatisticsQuery, compute, scan
from tests.integration.test_api_statistics import rollups_current
from tests.support.api import api_client, api_settings, bearer
from tests.support.cli import clean_env, run_tickets
from tests.support.factories import SYSTEM, agent_actor, create_body, make_agent
from tests.support.round_trips import listening
from tests.support.system import Caller, Endpoints, EventLog, client

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 27, 21, 52, 30, tzinfo=UTC)  # a DST weekend in Europe
STEP = timedelta(hours=9, minutes=37, seconds=11)
ZONES = ["UTC", "Asia/Kathmandu", "America/St_Johns", "Pacific/Chatham", "Europe/Madrid"]
PRIORITIES = ["low", "medium", "high", "urgent"]
CATEGORIES = ["support", "technical", "billing", "sales", "complaint"]


class NoNames:
    """Agent names are not what is compared here."""

    async def get(self, agent_id: str) -> None:
        return None


async def _play_one(
    caller: Caller, clock: MovableClock, rng: random.Random, index: int, agents: list[str]
) -> None:
    """One ticket's story: some of assign, reassign, first response (late or not), SLA
    breach, escalation, recategorisation, resolve, rating, reopen and resolve again, close,
    cancel; each at a time after the last."""
    created_at = clock.now()
    body = create_body(f"+3465{index % 7:07d}")
    body |= {"priority": rng.choice(PRIORITIES), "category": rng.choice(CATEGORIES)}
    ticket = await caller.ok(names.CREATE, {**body, "actor": SYSTEM})
    ids = {"actor": SYSTEM, "ticketId": ticket["ticketId"]}

    async def at(minutes: int, queue: str, extra: dict[str, Any], actor: Any = SYSTEM) -> None:
        clock.set(max(clock.now(), created_at + timedelta(minutes=minutes)))
        await caller.call(queue, {**ids, "actor": actor, **extra})

    if rng.random() < 0.2:
        due = datetime.fromisoformat(ticket["sla"]["firstResponseDueAt"])
        clock.set(due + timedelta(minutes=1))
        breach = {"kind": "first_response", "dueAt": due.isoformat()}
        await caller.call(
            names.RECORD_SLA_BREACH, {**ids, **breach, "detectedAt": clock.now().isoformat()}
        )
    if rng.random() < 0.15:
        await at(2, names.CHANGE_STATUS, {"status": "cancelled"})
        return
    if rng.random() < 0.2:
        return  # stays new in the pool
    agent = rng.choice(agents)
    await at(3, names.ASSIGN, {"agentId": agent})
    if rng.random() < 0.3:
        agent = rng.choice(agents)
        await at(5, names.ASSIGN, {"agentId": agent})
    await at(rng.choice([8, 30, 200, 500]), names.MARK_FIRST_RESPONSE, {})
    if rng.random() < 0.25:
        await at(10, names.ESCALATE_PRIORITY, {})
    if rng.random() < 0.2:
        await at(12, names.UPDATE, {"category": rng.choice(CATEGORIES)})
    if rng.random() < 0.2:
        return  # still being worked
    await at(
        rng.choice([100, 300, 520]), names.CHANGE_STATUS, {"status": "resolved"}, agent_actor(agent)
    )
    if rng.random() < 0.6:
        await at(525, names.RATE, {"rating": rng.randint(1, 5)})
    if rng.random() < 0.35:
        await at(530, names.CHANGE_STATUS, {"status": "reopened"})
        agent = rng.choice(agents)
        await at(531, names.ASSIGN, {"agentId": agent})
        await at(540, names.CHANGE_STATUS, {"status": "resolved"}, agent_actor(agent))
        if rng.random() < 0.5:
            await at(541, names.RATE, {"rating": rng.randint(1, 5)})
    elif rng.random() < 0.4:
        await at(545, names.CHANGE_STATUS, {"status": "closed"})


def _queries(
    agents: list[str], customer_id: str
) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(what, query fields, scope) pairs: whole history, ragged ranges, zones, scopes."""
    ragged = [
        (None, None),
        (START + timedelta(hours=5, minutes=3, seconds=7), None),
        (None, START + timedelta(days=4, minutes=44, milliseconds=999)),
        (
            START + timedelta(days=1, hours=2, minutes=15),
            START + timedelta(days=3, minutes=14, seconds=59, milliseconds=999),
        ),
        (START + timedelta(days=2, minutes=1), START + timedelta(days=2, minutes=14)),
        (START + timedelta(hours=20), START + timedelta(hours=30, microseconds=1500)),
    ]
    pool_or = [{"assignedAgent": {"$in": [None, agent]}} for agent in agents]
    scopes: list[dict[str, Any]] = [{}, *pool_or, {"customerId": customer_id}]
    cases: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for number, (start, end) in enumerate(ragged):
        zone = ZONES[number % len(ZONES)]
        fields: dict[str, Any] = {"timezone": zone, "createdFrom": start, "createdTo": end}
        cases.extend((f"{zone} {start} .. {end} {scope}", fields, scope) for scope in scopes)
    return cases


async def _compare(agents: list[str], customer_id: str, *, expect_rollups: bool = True) -> int:
    tickets = TicketDocument.get_pymongo_collection()
    compared = 0
    for what, fields, scope in _queries(agents, customer_id):
        query = StatisticsQuery.model_validate({"actor": SystemActor(), **fields})
        reference = (await scan(tickets, NoNames(), query, scope)).to_wire()
        report = (await compute(tickets, NoNames(), query, scope)).to_wire()
        assert report == reference, what
        compared += 1
    if expect_rollups:
        assert await tickets.database[WRITER].count_documents({"ready": True}) == 1
    return compared


async def _replay(caller: Caller, log: EventLog) -> None:
    """Every event again, once as it was and once without its ticket revision (so the
    writer must look at the ticket rather than skip it on the revision)."""
    for event in list(log.events):
        for body in (event, {k: v for k, v in event.items() if k != "ticket"}):
            await publish_event(caller.broker, event["type"], body, event["eventId"])


async def test_rollups_equal_the_scan_through_a_varied_history_duplicates_and_a_rebuild(
    endpoints: Endpoints, database: str
) -> None:
    rng = random.Random(15)
    clock = MovableClock(START)
    settings = api_settings(endpoints, database)
    async with api_client(settings, clock) as api, client(endpoints.rabbit_url) as (caller, log):
        agents = [await make_agent(name) for name in ("Ana", "Bob", "Cy")]
        boss = await make_agent("Boss", AgentRole.ADMIN)
        for index in range(28):
            clock.set(max(clock.now(), START + index * STEP))
            await _play_one(caller, clock, rng, index, agents)
        await rollups_current()
        tickets = TicketDocument.get_pymongo_collection()
        first = await tickets.find_one({})
        assert first is not None
        customer_id = first["customerId"]
        whole: dict[str, Any] = (
            await scan(tickets, NoNames(), StatisticsQuery(actor=SystemActor()), {})
        ).to_wire()
        # the history is as varied as promised
        assert whole["reopenRate"]["reopened"] >= 2, whole["reopenRate"]
        assert whole["slaBreaches"] >= 3, whole["sla"]
        assert whole["sla"]["firstResponse"]["met"] >= 3, whole["sla"]
        assert whole["satisfaction"]["count"] >= 5
        assert len(whole["agents"]) == 3
        assert whole["byStatus"]["cancelled"] >= 1
        assert whole["byStatus"]["new"] >= 1
        assert await _compare(agents, customer_id) == 30

        answer = await api.get(
            "/api/v2/tickets/statistics",
            params={"timezone": "Asia/Kathmandu"},
            headers=bearer(settings, boss, now=clock.now()),
        )
        reference = await scan(
            tickets, NoNames(), StatisticsQuery(actor=SystemActor(), timezone="Asia/Kathmandu"), {}
        )
        endpoint = answer.json()["data"]
        for agent in endpoint["agents"]:
            agent["name"] = None
        assert endpoint == reference.to_wire()

        await _replay(caller, log)
        marker = await caller.ok(names.CREATE, {**create_body("+34659999999"), "actor": SYSTEM})
        await rollups_current()  # the marker's event came after every copy (one consumer)
        assert marker["ticketId"]
        await _compare(agents, customer_id)

        # the statistics read the buckets: skew them, and a rebuild puts them right
        days, total = tickets.database[DAYS], whole["total"] + 1
        everyone = {"scope": "*"}
        await days.update_many(everyone, {"$inc": {"all.tickets": 5}})
        query = StatisticsQuery(actor=SystemActor())
        skewed = await compute(tickets, NoNames(), query, {})
        assert skewed.total == total + 5 * await days.count_documents(everyone)
        writer = RollupWriter(tickets.database, tickets, clock)
        since = START + timedelta(days=3, hours=5)
        await writer.rebuild(since)
        partly = await compute(tickets, NoNames(), query, {})
        still = await days.count_documents({**everyone, "day": {"$lt": day_of(since)}})
        assert partly.total == total + 5 * still
        assert still
        assert await writer.rebuild() == total
        await _compare(agents, customer_id)


def _ticket(number: int, created: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "ticketId": f"TICKET-2026-{number:06d}",
        "revision": 1,
        "createdAt": created,
        "status": "new",
        "priority": "high",
        "category": "billing",
        "customerId": "c1",
        "sla": {},
        "reopenCount": 0,
        **fields,
    }


async def _report_equals_scan(
    tickets: AsyncCollection[dict[str, Any]], query: StatisticsQuery
) -> None:
    """The rollups' report equals the scan, for everyone and for agent a1's view."""
    for scope in ({}, {"assignedAgent": {"$in": [None, "a1"]}}):
        expected = (await scan(tickets, NoNames(), query, scope)).to_wire()
        assert (await compute(tickets, NoNames(), query, scope)).to_wire() == expected


class Crash(Exception):
    pass


class DiesAfterOneBucket(RollupWriter):
    """A writer whose process dies after its first bucket update: it releases nothing."""

    async def _increment(self, seq: int, moves: Any) -> None:
        await super()._increment(seq, moves[:1])
        raise Crash

    async def release(self, held: Any, *, finished: bool = True) -> None:
        return None


async def _six_tickets_counted(
    writer: RollupWriter, tickets: AsyncCollection[dict[str, Any]]
) -> None:
    """Six tickets 7 h 3 min apart, every other one assigned to a1, counted by a rebuild."""
    await writer.ensure_indexes()
    for number in range(6):
        moment = START + number * timedelta(hours=7, minutes=3)
        await tickets.insert_one(
            _ticket(number, moment, assignedAgent="a1" if number % 2 else None)
        )
    assert await writer.rebuild() == 6


async def test_an_operation_cut_half_way_is_completed_once_by_the_next_writer(
    endpoints: Endpoints, database: str
) -> None:
    mongo = connect(endpoints.mongo_url)
    try:
        db = mongo[database]
        tickets = db["tickets"]
        clock = MovableClock(START)
        survivor = RollupWriter(db, tickets, clock)
        await _six_tickets_counted(survivor, tickets)
        query = StatisticsQuery(actor=SystemActor(), timezone="Asia/Kathmandu")
        await _report_equals_scan(tickets, query)
        resolved = {
            "status": "resolved",
            "revision": 2,
            "assignedAgent": "a2",
            "resolvedBy": "a2",
            "resolvedAt": START + timedelta(days=2),
            "resolutionTime": 4_000,
            "firstResponseTime": 600,
            "sla": {"firstResponseMet": True, "resolutionMet": False},
            "customerSatisfaction": {"rating": 4},
        }
        await tickets.update_one({"ticketId": "TICKET-2026-000001"}, {"$set": resolved})
        dying = DiesAfterOneBucket(db, tickets, clock, lease=timedelta(seconds=30))
        with pytest.raises(Crash):
            await dying.refresh("TICKET-2026-000001")
        writer = await db[WRITER].find_one({"_id": "writer"})
        assert writer is not None
        assert [item["ticketId"] for item in writer["pending"]["items"]] == ["TICKET-2026-000001"]
        # one bucket moved, the rest not: visibly wrong until completed
        with pytest.raises(AssertionError):
            await _report_equals_scan(tickets, query)

        clock.advance(timedelta(seconds=31))  # the dead writer's lease runs out
        await tickets.update_one(
            {"ticketId": "TICKET-2026-000004"}, {"$set": {"revision": 2, "priority": "low"}}
        )
        assert await survivor.refresh("TICKET-2026-000004")
        await _report_equals_scan(tickets, query)

        # the dead writer comes back and replays its whole operation: fenced, nothing moves
        pending = writer["pending"]
        item = pending["items"][0]
        old, new = Contribution.load(item["old"]), Contribution.load(item["new"])
        assert deltas(old, new)
        await RollupWriter._increment(dying, pending["seq"], deltas(old, new))
        await survivor.refresh("TICKET-2026-000001")  # and a duplicate event moves nothing
        await _report_equals_scan(tickets, query)
        raw = await tickets.find_one({"ticketId": "TICKET-2026-000001"}, PROJECTION)
        assert raw is not None
        assert Contribution.of(raw) == new
    finally:
        await mongo.close()


class StopsMidBatch(RollupWriter):
    """A writer whose operation that moves anything adds its day buckets' moves and then
    waits there, to be cancelled (as a stopping service cancels the handler driving it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.days_moved = asyncio.Event()

    async def _increment(self, seq: int, moves: list[BucketDelta]) -> None:
        if not moves:
            await super()._increment(seq, moves)
            return
        await super()._increment(seq, [move for move in moves if move.collection == DAYS])
        self.days_moved.set()
        await asyncio.Event().wait()


async def test_a_batch_cancelled_after_it_was_recorded_is_completed_once_by_the_next_writer(
    endpoints: Endpoints, database: str
) -> None:
    """The handler driving an operation of five refreshes is cancelled after the operation
    was recorded in `pending` and its day buckets moved: the four refreshes that waited on
    it fail with RefreshInterrupted (their events are retried), the operation stays
    recorded, and the next writer completes it before its own; the retried events then find
    nothing to move and the figures equal the scan, nothing counted twice."""
    mongo = connect(endpoints.mongo_url)
    refreshes: list[asyncio.Task[bool]] = []
    try:
        db = mongo[database]
        tickets = db["tickets"]
        clock = MovableClock(START)
        stopping = StopsMidBatch(db, tickets, clock)
        await _six_tickets_counted(stopping, tickets)
        whole = StatisticsQuery(actor=SystemActor(), timezone="Asia/Kathmandu")
        # ragged ends: the days at either end are read from the quarter buckets
        ragged = whole.model_copy(
            update={
                "created_from": START + timedelta(hours=5, minutes=3),
                "created_to": START + timedelta(days=1, hours=12, minutes=7),
            }
        )
        changed = [f"TICKET-2026-{number:06d}" for number in range(1, 6)]
        resolved = {
            "status": "resolved",
            "revision": 2,
            "assignedAgent": "a2",
            "resolvedBy": "a2",
            "resolvedAt": START + timedelta(days=2),
            "resolutionTime": 4_000,
            "customerSatisfaction": {"rating": 5},
        }
        await tickets.update_many({"ticketId": {"$in": changed}}, {"$set": resolved})

        # ticket 0 is unchanged: its refresh takes the writer alone and moves nothing; the
        # five queued meanwhile go in one operation, driven by the first of them
        refreshes += [
            asyncio.create_task(stopping.refresh(ticket_id))
            for ticket_id in ["TICKET-2026-000000", *changed]
        ]
        await asyncio.wait_for(stopping.days_moved.wait(), timeout=10)
        recorded = await db[WRITER].find_one({"_id": "writer"})
        assert recorded is not None
        assert recorded["pending"]["kind"] == "refresh"
        assert [item["ticketId"] for item in recorded["pending"]["items"]] == changed
        refreshes[1].cancel()  # the handler driving the operation
        outcomes = await asyncio.gather(*refreshes, return_exceptions=True)
        assert outcomes[0] is False
        assert isinstance(outcomes[1], asyncio.CancelledError)
        assert all(isinstance(outcome, RefreshInterrupted) for outcome in outcomes[2:])
        left = await db[WRITER].find_one({"_id": "writer"})
        assert left is not None
        assert left["holder"] is None  # let go: the next writer need not wait out the lease
        assert left["pending"] == recorded["pending"]
        # the day buckets moved, the quarter buckets and applied parts not: visibly wrong
        with pytest.raises(AssertionError):
            await _report_equals_scan(tickets, ragged)

        after_restart = RollupWriter(db, tickets, clock)
        retried = await asyncio.gather(*(after_restart.refresh(t) for t in changed))
        assert retried == [False] * 5  # the completion moved them, once
        await _report_equals_scan(tickets, whole)
        await _report_equals_scan(tickets, ragged)
        finished = await db[WRITER].find_one({"_id": "writer"})
        assert finished is not None
        assert (finished["holder"], finished["pending"]) == (None, None)
    finally:
        for refresh in refreshes:
            refresh.cancel()  # none left waiting if the test failed before its own cancel
        await mongo.close()


async def test_refreshes_that_wait_for_the_writer_are_applied_as_one_operation(
    endpoints: Endpoints, database: str
) -> None:
    """40 events at once (the subscriber's prefetch): the first takes the writer alone, the
    39 that waited meanwhile go in one operation of eight commands, and the figures equal
    the scan; a second round with every ticket changed, and with repeats, likewise."""
    trips = listening()
    mongo = connect(endpoints.mongo_url)
    try:
        db = mongo[database]
        tickets = db["tickets"]
        clock = MovableClock(START)
        writer = RollupWriter(db, tickets, clock)
        await writer.ensure_indexes()
        await writer.rebuild()
        ids = []
        for number in range(40):
            moment = START + number * timedelta(hours=5, minutes=11)
            agent = None if number % 3 else f"a{number % 2}"
            await tickets.insert_one(_ticket(number, moment, assignedAgent=agent))
            ids.append(f"TICKET-2026-{number:06d}")

        query = StatisticsQuery(actor=SystemActor(), timezone="America/St_Johns")

        watched = trips.watch()
        token = correlation_id.set(watched)
        try:
            moved = await asyncio.gather(*(writer.refresh(ticket_id) for ticket_id in ids))
        finally:
            correlation_id.reset(token)
        assert moved == [True] * 40
        sent = trips.of(watched)
        assert len(sent) == 16, sent  # two operations of eight commands, not 40 of nine
        assert sum(command.startswith("findAndModify") for command in sent) == 2
        await _report_equals_scan(tickets, query)

        closed = {"status": "closed", "revision": 2, "closedAt": START + timedelta(days=30)}
        await tickets.update_many({}, {"$set": closed})
        again = [*ids, *ids[:5]]  # duplicate deliveries among them
        moved = await asyncio.gather(*(writer.refresh(ticket_id) for ticket_id in again))
        assert moved[:40] == [True] * 40
        assert moved[40:] == [False] * 5  # the same ticket moved once, by its first event
        await _report_equals_scan(tickets, query)
        assert await writer.refresh(ids[0]) is False  # nothing left to move
    finally:
        await mongo.close()


async def test_a_ticket_the_figures_cannot_read_holds_back_no_other(
    endpoints: Endpoints, database: str
) -> None:
    """A stored ticket without `createdAt` fails its own refresh (retried, then set aside
    by the inbox); the others applied in the same operation still count."""
    mongo = connect(endpoints.mongo_url)
    try:
        db = mongo[database]
        tickets = db["tickets"]
        writer = RollupWriter(db, tickets, MovableClock(START))
        await writer.ensure_indexes()
        await writer.rebuild()
        for number in range(6):
            await tickets.insert_one(_ticket(number, START + number * timedelta(hours=3)))
        await tickets.update_one({"ticketId": "TICKET-2026-000003"}, {"$unset": {"createdAt": 1}})
        ids = [f"TICKET-2026-{number:06d}" for number in range(6)]
        outcomes = await asyncio.gather(
            *(writer.refresh(ticket_id) for ticket_id in ids), return_exceptions=True
        )
        assert isinstance(outcomes[3], KeyError)
        assert [outcomes[i] for i in (0, 1, 2, 4, 5)] == [True] * 5
        query = StatisticsQuery(actor=SystemActor())
        report = await compute(tickets, NoNames(), query, {})
        assert report.total == 5
        await tickets.delete_one({"ticketId": "TICKET-2026-000003"})  # the scan cannot read it
        assert report.to_wire() == (await scan(tickets, NoNames(), query, {})).to_wire()
        held = await db[WRITER].find_one({"_id": "writer"})
        assert held is not None
        assert held["holder"] is None  # released after every attempt
    finally:
        await mongo.close()


async def test_the_rebuild_command_recounts_while_events_flow(
    endpoints: Endpoints, database: str, tmp_path: Path
) -> None:
    rng = random.Random(7)
    clock = MovableClock(START)
    settings = api_settings(endpoints, database)
    env = clean_env(
        MONGODB_URL=endpoints.mongo_url,
        TICKETS_MONGODB_DATABASE=database,
        TICKETS_DATA_DIR=str(tmp_path),
    )
    async with api_client(settings, clock), client(endpoints.rabbit_url) as (caller, _):
        agents = [await make_agent(name) for name in ("Ana", "Bob")]

        async def play(numbers: range) -> None:
            for index in numbers:
                clock.set(max(clock.now(), START + index * STEP))
                await _play_one(caller, clock, rng, index, agents)

        await play(range(10))
        await rollups_current()
        tickets = TicketDocument.get_pymongo_collection()
        await tickets.database[DAYS].update_many({}, {"$inc": {"all.tickets": 3}})
        query = StatisticsQuery(actor=SystemActor())
        everyone = await tickets.database[DAYS].count_documents({"scope": "*"})
        assert (await compute(tickets, NoNames(), query, {})).total == 10 + 3 * everyone

        bad = await run_tickets("statistics", "rebuild", "--from", "yesterday", env=env)
        assert bad.returncode == 2
        assert "--from 'yesterday' is not a date" in bad.stderr
        partial = await run_tickets("statistics", "rebuild", "--from", "2026-03-30", env=env)
        assert partial.returncode == 0, partial.stderr
        assert partial.stdout.startswith("statistics rebuilt: ")
        assert "created from 2026-03-30 (UTC) on" in partial.stdout

        rebuilding = asyncio.create_task(run_tickets("statistics", "rebuild", env=env))
        await play(range(10, 16))  # the events of these flow while it runs
        finished = await rebuilding
        assert finished.returncode == 0, finished.stderr
        assert "statistics rebuilt: " in finished.stdout
        await rollups_current()
        first = await tickets.find_one({})
        assert first is not None
        assert await _compare(agents, first["customerId"]) == 6 * 4
