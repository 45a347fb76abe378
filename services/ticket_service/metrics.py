"""Ticket service metrics, counted from committed changes (never from publishes, which a
sweep may repeat), so each ticket is counted once per transition. A process that dies
between a write and this count under-counts that one change."""

from collections.abc import Iterable
from datetime import datetime

from prometheus_client import Counter, Gauge

from contracts.enums import TicketStatus
from contracts.events import TicketCreated, TicketEvent, TicketStatusChanged

CREATED = Counter(
    "tickets_created_total", "Tickets opened, by priority and channel", ["priority", "channel"]
)
RESOLVED = Counter("tickets_resolved_total", "Tickets moved to resolved, by priority", ["priority"])
REOPENED = Counter("tickets_reopened_total", "Tickets reopened, by priority", ["priority"])
OUTBOX_DOCUMENTS = Gauge(
    "tickets_outbox_pending_documents",
    "Documents with committed outbox entries not yet published, by collection",
    ["collection"],
)
OUTBOX_AGE = Gauge(
    "tickets_outbox_oldest_entry_age_seconds",
    "Age of the oldest committed outbox entry not yet published (0 when none), by collection",
    ["collection"],
)


def count_committed(events: Iterable[TicketEvent]) -> None:
    for event in events:
        priority = event.ticket.priority
        if isinstance(event, TicketCreated):
            CREATED.labels(priority, event.ticket.channel).inc()
        elif isinstance(event, TicketStatusChanged):
            if event.new_status is TicketStatus.RESOLVED:
                RESOLVED.labels(priority).inc()
            elif event.new_status is TicketStatus.REOPENED:
                REOPENED.labels(priority).inc()


def set_backlog(collection: str, documents: int, oldest: datetime | None, now: datetime) -> None:
    OUTBOX_DOCUMENTS.labels(collection).set(documents)
    age = max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
    OUTBOX_AGE.labels(collection).set(age)
