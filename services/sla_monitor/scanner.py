"""The scanner: finds due timers by the minute buckets since its last scan (an equality
lookup each on the `dueBucket` index, whatever the number of open timers), with a full
sweep over the (state, dueAt) index at start and every few minutes as a safety net;
claims each with one conditional update, then acts.

Acts: `sla.warning`; `sla.breached` once the ticket service recorded the breach (it is
the authority: a timer made stale by an event still in flight is refused there and
dropped here); auto-close through `tickets.v1.change_status` as the System actor.

Exactly once: only one scanner wins a claim. A scanner that dies after claiming leaves
the timer `firing` with a lease; when the lease runs out another takes it and redoes the
steps: recording is idempotent on the ticket, and the alert keeps its event id (derived
from ticket, kind and cycle), so consumers deduplicate the rare republish.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from contracts.actors import SystemActor
from contracts.client import TicketRefused, TicketsClient
from contracts.commands import ChangeStatus, GetTicket, RecordSlaBreach
from contracts.enums import ErrorCode, Priority, TicketStatus
from contracts.events import SlaBreached, SlaWarning
from contracts.sla import SlaPolicy
from contracts.tickets import Ticket, TicketSummary
from infra import logging as log_context
from infra.clock import Clock
from infra.due import Claimed, MinuteWalk
from infra.loops import every
from infra.settings import SlaMonitorSettings
from services.sla_monitor.domain.timers import (
    SLA_KIND,
    WARNINGS,
    PlanningRules,
    TimerKind,
    TimerState,
    elapsed,
    event_id,
    wanted_timers,
    warning_superseded,
)
from services.sla_monitor.metrics import SlaMetrics
from services.sla_monitor.repository import Raw, TimerRepository

log = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any], str], Awaitable[None]]
"""publish(routing_key, payload, event_id) on the events exchange, confirmed."""
Refresh = Callable[[], Awaitable[None]]

SYSTEM = SystemActor()
AUTO_CLOSE_REASON = "auto-closed: no reply from the customer within the quiet period"
MAX_ROUNDS = 100
"""A scan takes at most this many batches, so one scan always ends."""
CLOSE_ATTEMPTS = 3
REFUSALS = frozenset(
    {
        ErrorCode.NOT_FOUND,
        ErrorCode.INVALID_TRANSITION,
        ErrorCode.CONFLICT,
        ErrorCode.VALIDATION,
        ErrorCode.FORBIDDEN,
    }
)


@dataclass
class ScanResult:
    claimed: int = 0
    warnings: int = 0
    breaches: int = 0
    closed: int = 0
    dropped: int = 0
    failed: int = 0


class Scanner:
    def __init__(
        self,
        timers: TimerRepository,
        tickets: TicketsClient,
        publish: Publish,
        clock: Clock,
        settings: SlaMonitorSettings,
        policy: SlaPolicy,
        metrics: SlaMetrics,
        rules: PlanningRules,
    ) -> None:
        self._timers = timers
        self._tickets = tickets
        self._publish = publish
        self._clock = clock
        self._settings = settings
        self._policy = policy
        self._metrics = metrics
        self._rules = rules
        self._lease = timedelta(seconds=settings.lease_seconds)
        self._walk = MinuteWalk()

    async def scan_once(self) -> ScanResult:
        """Claim and act on everything due now, in due order, batch by batch."""
        started = time.perf_counter()
        result = ScanResult()
        batch = self._settings.scan_batch
        for _ in range(MAX_ROUNDS):
            now = self._clock.now()
            buckets = self._walk.next(now)
            candidates = await self._timers.due(now, batch, buckets)
            for candidate in candidates:
                claimed = await self._timers.claim(candidate, now, self._lease)
                if claimed is not None:
                    result.claimed += 1
                    await self._act_safely(claimed, now, result)
            if len(candidates) < batch and self._walk.done(now, buckets):
                break
        self._metrics.scan_seconds.observe(time.perf_counter() - started)
        return result

    async def _act_safely(self, claimed: Claimed, now: datetime, result: ScanResult) -> None:
        timer = claimed.row
        token = log_context.ticket_id.set(timer["ticketId"])
        try:
            await self._act(claimed, now, result)
        except Exception:
            result.failed += 1
            log.exception(
                "sla timer action failed; retried when its lease runs out",
                extra={"ticketId": timer["ticketId"], "kind": timer["kind"]},
            )
        finally:
            log_context.ticket_id.reset(token)

    async def _act(self, claimed: Claimed, now: datetime, result: ScanResult) -> None:
        kind = TimerKind(claimed.row["kind"])
        if kind is TimerKind.AUTO_CLOSE:
            await self._auto_close(claimed, now, result)
        elif kind in WARNINGS:
            await self._warn(claimed, kind, now, result)
        else:
            await self._breach(claimed, kind, now, result)

    def _alert_fields(self, timer: Raw, kind: TimerKind, now: datetime) -> dict[str, Any]:
        target = timedelta(seconds=timer["targetSeconds"])
        spent = elapsed(target, timer["targetDueAt"], now, self._policy.business_hours)
        return {
            "event_id": event_id(timer["ticketId"], kind, timer["cycle"]),
            "occurred_at": now,
            "ticket_id": timer["ticketId"],
            "kind": SLA_KIND[kind],
            "priority": Priority(timer["priority"]),
            "customer_id": timer.get("customerId"),
            "assigned_agent": timer.get("assignedAgent"),
            "target_seconds": timer["targetSeconds"],
            "elapsed_seconds": int(spent.total_seconds()),
            "due_at": timer["targetDueAt"],
        }

    async def _announce(self, event: SlaWarning | SlaBreached) -> None:
        await self._publish(event.type, event.to_wire(), event.event_id)

    async def _warn(
        self, claimed: Claimed, kind: TimerKind, now: datetime, result: ScanResult
    ) -> None:
        timer = claimed.row
        if warning_superseded(kind, timer["targetDueAt"], now):
            await self._timers.finish(claimed, TimerState.FIRED, "superseded by the breach", now)
            return
        ticket = await self._ticket(timer["ticketId"])
        if ticket is None or not _still_wanted(ticket, kind, timer, self._rules):
            reason = "no longer applies" if ticket else "ticket not found"
            refused = TicketRefused("invalid_transition", reason, None)
            await self._drop(claimed, refused, now, result)
            return
        event = SlaWarning(**self._alert_fields(timer, kind, now))
        await self._announce(event)
        self._metrics.warnings.labels(kind=event.kind, priority=event.priority).inc()
        await self._timers.finish(claimed, TimerState.FIRED, "warning sent", now)
        result.warnings += 1
        log.info("sla warning sent", extra={"ticketId": event.ticket_id, "kind": event.kind})

    async def _breach(
        self, claimed: Claimed, kind: TimerKind, now: datetime, result: ScanResult
    ) -> None:
        timer = claimed.row
        command = RecordSlaBreach(
            actor=SYSTEM,
            ticket_id=timer["ticketId"],
            kind=SLA_KIND[kind],
            due_at=timer["targetDueAt"],
            detected_at=timer["detectedAt"],
            escalate_priority=self._settings.escalate_on_breach,
        )
        try:
            ticket = await self._tickets.record_sla_breach(command)
        except TicketRefused as refused:
            await self._drop(claimed, refused, now, result)
            return
        fields = self._alert_fields(timer, kind, timer["detectedAt"])
        fields |= {"customer_id": ticket.customer_id, "assigned_agent": ticket.assigned_agent}
        event = SlaBreached(**fields)
        await self._announce(event)
        self._metrics.breaches.labels(kind=event.kind, priority=event.priority).inc()
        await self._timers.finish(claimed, TimerState.FIRED, "breach recorded and announced", now)
        result.breaches += 1
        log.info("sla breach announced", extra={"ticketId": event.ticket_id, "kind": event.kind})

    async def _ticket(self, ticket_id: str) -> Ticket | None:
        """The ticket as it is now; None when the ticket service refuses to show it."""
        try:
            return await self._tickets.get(GetTicket(actor=SYSTEM, ticket_id=ticket_id))
        except TicketRefused as refused:
            if refused.code not in REFUSALS:
                raise
            return None

    async def _drop(
        self, claimed: Claimed, refused: TicketRefused, now: datetime, result: ScanResult
    ) -> None:
        if refused.code not in REFUSALS:
            raise RuntimeError(f"ticket service failed: {refused}")
        outcome = f"refused by the ticket service: {refused}"
        await self._timers.finish(claimed, TimerState.DROPPED, outcome[:500], now)
        result.dropped += 1
        ticket_id = claimed.row["ticketId"]
        log.info("sla timer dropped", extra={"ticketId": ticket_id, "outcome": outcome})

    async def _auto_close(self, claimed: Claimed, now: datetime, result: ScanResult) -> None:
        for _ in range(CLOSE_ATTEMPTS):
            ticket = await self._ticket(claimed.row["ticketId"])
            if ticket is None or not _close_due(ticket, now):
                reason = "no longer due" if ticket else "ticket not found"
                await self._drop(
                    claimed, TicketRefused("invalid_transition", reason, None), now, result
                )
                return
            try:
                await self._tickets.change_status(_closing(ticket))
            except TicketRefused as refused:
                if refused.code != ErrorCode.CONFLICT:
                    await self._drop(claimed, refused, now, result)
                    return
                continue
            self._metrics.auto_closed.inc()
            await self._timers.finish(claimed, TimerState.FIRED, "closed", now)
            result.closed += 1
            log.info("ticket auto-closed", extra={"ticketId": ticket.ticket_id})
            return
        raise RuntimeError("the ticket kept changing while it was auto-closed")

    async def run(self, stop: asyncio.Event, refresh: Refresh | None = None) -> None:
        """Scan every `scan_interval_seconds` until `stop` is set; `refresh` (the gauges)
        runs every `metrics_refresh_seconds`."""
        loop = asyncio.get_running_loop()
        next_refresh = loop.time()

        async def round_() -> None:
            nonlocal next_refresh
            await self.scan_once()
            if refresh is not None and loop.time() >= next_refresh:
                next_refresh = loop.time() + self._settings.metrics_refresh_seconds
                await refresh()

        await every(self._settings.scan_interval_seconds, stop, round_, "sla scan")


def _closing(ticket: Ticket) -> ChangeStatus:
    return ChangeStatus(
        actor=SYSTEM,
        ticket_id=ticket.ticket_id,
        status=TicketStatus.CLOSED,
        reason=AUTO_CLOSE_REASON,
        expected_revision=ticket.revision,
    )


def _close_due(ticket: Ticket, now: datetime) -> bool:
    due = ticket.sla.auto_close_due_at
    return ticket.status is TicketStatus.RESOLVED and due is not None and due <= now


def _still_wanted(ticket: Ticket, kind: TimerKind, timer: Raw, rules: PlanningRules) -> bool:
    """The ticket as it is now still calls for this timer (an event that answered, paused
    or moved it may not have reached the monitor yet)."""
    wanted = wanted_timers(TicketSummary.of(ticket), rules)[kind]
    return (
        wanted is not None
        and wanted.target_due_at == timer["targetDueAt"]
        and wanted.cycle == timer["cycle"]
    )
