"""From a ticket event to the timers it calls for, and the metrics it moves.

Every ticket event carries the ticket right after the change, with the due times the
ticket service computed; planning only upserts or cancels timers. An event older than
what a timer was planned from is ignored, so duplicates and reordering are harmless.
"""

import logging

from contracts.enums import TicketStatus
from contracts.tickets import TicketSummary
from infra.clock import Clock
from services.sla_monitor.domain.timers import PlanningRules, wanted_timers
from services.sla_monitor.metrics import SlaMetrics
from services.sla_monitor.repository import Previous, TimerRepository

log = logging.getLogger(__name__)


class TimerPlanner:
    def __init__(
        self, timers: TimerRepository, rules: PlanningRules, clock: Clock, metrics: SlaMetrics
    ) -> None:
        self._timers = timers
        self._rules = rules
        self._clock = clock
        self._metrics = metrics

    async def on_ticket(self, ticket: TicketSummary, *, backfill: bool = False) -> int:
        """Re-plan the ticket's timers; returns how many timer documents were written.

        A backfill (the start-up resync) plans and updates the view but observes no
        durations: those responses and resolutions happened before, not now."""
        now = self._clock.now()
        written = 0
        for kind, wanted in wanted_timers(ticket, self._rules).items():
            if await self._timers.plan(ticket, kind, wanted, now) is not None:
                written += 1
        newer, previous = await self._timers.observe(ticket)  # last: marks the plan done
        if newer and not backfill:
            self._observe_durations(ticket, previous)
        if written:
            log.info(
                "sla timers planned",
                extra={
                    "ticketId": ticket.ticket_id,
                    "revision": ticket.revision,
                    "writes": written,
                },
            )
        return written

    def _observe_durations(self, ticket: TicketSummary, previous: Previous) -> None:
        """Each response and resolution counted once (the revision check deduplicates)."""
        responded = ticket.sla.first_response_at
        if responded is not None and previous.first_response_at is None:
            self._metrics.first_response_seconds.labels(priority=ticket.priority).observe(
                (responded - ticket.created_at).total_seconds()
            )
        resolved = ticket.resolved_at
        if (
            ticket.status is TicketStatus.RESOLVED
            and resolved is not None
            and previous.resolved_at != resolved
        ):
            self._metrics.resolution_seconds.labels(priority=ticket.priority).observe(
                (resolved - ticket.created_at).total_seconds()
            )

    async def refresh_gauges(self) -> None:
        """Open tickets by status and priority, compliance by kind, from the stored view."""
        self._metrics.set_open(dict(await self._timers.open_counts()))
        for kind, ratio in (await self._timers.compliance()).items():
            self._metrics.compliance.labels(kind=kind).set(ratio)
