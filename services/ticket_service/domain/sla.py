"""SLA due times: computed here, carried in events, fired by sla_monitor.

Due = start of the cycle + target (+ the working time spent paused), counted in working
time when a business-hours calendar is configured. Only the resolution clock pauses
(while pending_customer); a reopen starts a new resolution cycle.
"""

from datetime import datetime, timedelta

from contracts.calendar import add_working_time, working_time_between
from contracts.enums import Priority
from contracts.sla import SlaPolicy
from contracts.tickets import SlaBlock


def to_ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


def from_ms(milliseconds: int) -> timedelta:
    return timedelta(milliseconds=milliseconds)


def initial_sla(policy: SlaPolicy, priority: Priority, created_at: datetime) -> SlaBlock:
    target = policy.target(priority)
    block = SlaBlock(
        first_response_target=to_ms(target.first_response),
        resolution_target=to_ms(target.resolution),
        resolution_cycle_started_at=created_at,
    )
    return plan(block, policy, created_at)


def plan(sla: SlaBlock, policy: SlaPolicy, created_at: datetime) -> SlaBlock:
    """Recompute due and warning points from targets, cycle start and paused time."""
    calendar = policy.business_hours
    first_target = from_ms(sla.first_response_target)
    changes: dict[str, object] = {}
    if sla.first_response_at is None:
        changes["first_response_due_at"] = add_working_time(calendar, created_at, first_target)
        changes["first_response_warning_at"] = add_working_time(
            calendar, created_at, first_target * policy.warning_ratio
        )
    if sla.paused_at is None:
        start = sla.resolution_cycle_started_at or created_at
        target = from_ms(sla.resolution_target)
        paused = from_ms(sla.paused_total)
        changes["resolution_due_at"] = add_working_time(calendar, start, target + paused)
        changes["resolution_warning_at"] = add_working_time(
            calendar, start, target * policy.warning_ratio + paused
        )
    return sla.model_copy(update=changes)


def retarget(
    sla: SlaBlock, policy: SlaPolicy, priority: Priority, created_at: datetime
) -> SlaBlock:
    target = policy.target(priority)
    updated = sla.model_copy(
        update={
            "first_response_target": to_ms(target.first_response),
            "resolution_target": to_ms(target.resolution),
        }
    )
    return plan(updated, policy, created_at)


def pause(sla: SlaBlock, now: datetime) -> SlaBlock:
    if sla.paused_at is not None:
        return sla
    return sla.model_copy(
        update={"paused_at": now, "resolution_due_at": None, "resolution_warning_at": None}
    )


def resume(sla: SlaBlock, policy: SlaPolicy, now: datetime, created_at: datetime) -> SlaBlock:
    if sla.paused_at is None:
        return sla
    paused = working_time_between(policy.business_hours, sla.paused_at, now)
    resumed = sla.model_copy(
        update={"paused_at": None, "paused_total": sla.paused_total + to_ms(paused)}
    )
    return plan(resumed, policy, created_at)


def restart_resolution(
    sla: SlaBlock, policy: SlaPolicy, now: datetime, created_at: datetime
) -> SlaBlock:
    """A reopened ticket gets a fresh resolution cycle from the reopen moment."""
    fresh = sla.model_copy(
        update={
            "resolution_cycle_started_at": now,
            "paused_at": None,
            "paused_total": 0,
            "resolution_met": None,
            "resolution_breach_at": None,
            "auto_close_due_at": None,
        }
    )
    return plan(fresh, policy, created_at)


def record_first_response(sla: SlaBlock, now: datetime) -> SlaBlock:
    met = sla.first_response_breach_at is None and (
        sla.first_response_due_at is None or now <= sla.first_response_due_at
    )
    return sla.model_copy(
        update={
            "first_response_at": now,
            "first_response_met": met,
            "first_response_breach_at": sla.first_response_breach_at or (None if met else now),
        }
    )


def record_resolution(sla: SlaBlock, policy: SlaPolicy, now: datetime) -> SlaBlock:
    met = sla.resolution_breach_at is None and _resolved_in_time(sla, policy, now)
    return sla.model_copy(
        update={
            "resolution_met": met,
            "resolution_breach_at": sla.resolution_breach_at or (None if met else now),
            "paused_at": None,
            "auto_close_due_at": now + policy.auto_close_after,
        }
    )


def _resolved_in_time(sla: SlaBlock, policy: SlaPolicy, now: datetime) -> bool:
    """While paused the clock is stopped: what counts is whether the pause began in time."""
    if sla.paused_at is None:
        return sla.resolution_due_at is None or now <= sla.resolution_due_at
    if sla.resolution_cycle_started_at is None:
        return True
    due_if_running = add_working_time(
        policy.business_hours,
        sla.resolution_cycle_started_at,
        from_ms(sla.resolution_target + sla.paused_total),
    )
    return sla.paused_at <= due_if_running
