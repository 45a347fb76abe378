"""Folding the aggregation's partial sums: exact averages and rates from any grouping."""

from typing import Any

from contracts.actors import SystemActor
from contracts.enums import Category, Priority, TicketStatus
from services.ticket_service.statistics import StatisticsQuery, fold, match_for

QUERY = StatisticsQuery(actor=SystemActor())


def row(status: str, priority: str, category: str, by: str | None, **sums: int) -> dict[str, Any]:
    key = {"status": status, "priority": priority, "category": category, "resolvedBy": by}
    return {"_id": key, **sums}


def test_averages_weigh_each_group_by_its_count_not_by_group() -> None:
    rows = [
        row("resolved", "high", "billing", "a1", tickets=3, resSum=300, resCount=3),
        row("closed", "high", "technical", "a1", tickets=1, resSum=900, resCount=1),
        row("new", "low", "billing", None, tickets=2),
    ]
    report = fold(rows, QUERY, {"a1": "Ana"})
    assert report.total == 6
    assert report.resolution_time.overall == 1200 / 4
    assert report.resolution_time.by_priority[Priority.HIGH] == 1200 / 4
    assert report.resolution_time.by_priority[Priority.LOW] is None
    assert report.resolution_time.by_category[Category.BILLING] == 100
    assert report.by_status[TicketStatus.RESOLVED] == 3
    assert report.by_status[TicketStatus.OPEN] == 0
    [ana] = report.agents
    assert (ana.name, ana.resolved, ana.avg_resolution_time) == ("Ana", 4, 300)


def test_rates_are_percentages_and_null_without_a_denominator() -> None:
    rows = [
        row(
            "resolved",
            "urgent",
            "sales",
            "a1",
            tickets=3,
            frMet=2,
            frMissed=1,
            reopened=1,
            resolvedEver=3,
            csatSum=9,
            csatCount=2,
        ),
    ]
    report = fold(rows, QUERY, {})
    assert report.sla.first_response.percent == 66.67
    assert report.sla.resolution.percent is None
    assert report.reopen_rate.percent == 33.33
    assert report.satisfaction.average == 4.5
    empty = fold([], QUERY, {})
    assert (empty.total, empty.reopen_rate.percent, empty.agents) == (0, None, [])


def test_the_match_combines_the_range_and_the_callers_scope() -> None:
    scope = {"assignedAgent": {"$in": [None, "a1"]}}
    assert match_for(QUERY, {}) == {}
    assert match_for(QUERY, scope) == {"$and": [scope]}


def test_the_plans_keys_count_statuses_and_breaches_and_average_like_its_group() -> None:
    rows = [
        row("in_progress", "high", "billing", None, tickets=2, frSum=600, frCount=2, breached=1),
        row("resolved", "low", "sales", "a1", tickets=1, resSum=90, resCount=1, breached=1),
        row("new", "low", "sales", None, tickets=3),
    ]
    report = fold(rows, QUERY, {"a1": "Ana"})
    assert (report.new, report.in_progress, report.resolved, report.open) == (3, 2, 1, 0)
    assert report.avg_first_response_time == 300
    assert report.avg_resolution_time == 90
    assert report.sla_breaches == 2
    untimed = fold([row("new", "low", "sales", None, tickets=1)], QUERY, {})
    assert untimed.avg_first_response_time is None  # tickets, none answered: $avg is null
    nothing = fold([], QUERY, {})
    assert (nothing.avg_first_response_time, nothing.avg_resolution_time) == (0, 0)
    wire = report.to_wire()
    assert {"inProgress", "pendingCustomer", "avgFirstResponseTime", "slaBreaches"} <= set(wire)


def test_tickets_per_day_fill_quiet_days_between_the_first_and_the_last() -> None:
    days = [{"_id": "2026-03-02", "count": 4}, {"_id": "2026-02-27", "count": 1}]
    report = fold([], QUERY, {}, days)
    assert [(d.date, d.count) for d in report.tickets_per_day] == [
        ("2026-02-27", 1),
        ("2026-02-28", 0),
        ("2026-03-01", 0),
        ("2026-03-02", 4),
    ]
