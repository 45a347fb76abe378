"""SLA metrics, registered once per process in the default registry that `/metrics` serves.

Created by the first SlaMonitor that starts (the histogram buckets sit at that policy's
targets); later monitors in the same process (tests, `tickets up`) share the series.
No label ever carries a ticket id.
"""

from dataclasses import dataclass
from threading import Lock

from prometheus_client import Counter, Gauge, Histogram

from contracts.enums import Priority, TicketStatus
from contracts.sla import SlaPolicy

_NOT_OPEN = frozenset({TicketStatus.CLOSED, TicketStatus.CANCELLED})
_EXTRA_BUCKETS = (60.0, 300.0, 1800.0, 7200.0, 28800.0, 172800.0, 1209600.0, 2592000.0)


@dataclass(frozen=True)
class SlaMetrics:
    first_response_seconds: Histogram
    resolution_seconds: Histogram
    breaches: Counter
    warnings: Counter
    auto_closed: Counter
    open_tickets: Gauge
    compliance: Gauge
    scan_seconds: Histogram

    def set_open(self, counts: dict[tuple[TicketStatus, Priority], int]) -> None:
        for status in TicketStatus:
            if status in _NOT_OPEN:
                continue
            for priority in Priority:
                self.open_tickets.labels(status=status, priority=priority).set(
                    counts.get((status, priority), 0)
                )


_lock = Lock()
_metrics: SlaMetrics | None = None


def _buckets(targets: list[float]) -> list[float]:
    return sorted({*targets, *_EXTRA_BUCKETS})


def _create(policy: SlaPolicy) -> SlaMetrics:
    first = [policy.target(p).first_response.total_seconds() for p in Priority]
    resolution = [policy.target(p).resolution.total_seconds() for p in Priority]
    return SlaMetrics(
        first_response_seconds=Histogram(
            "tickets_sla_first_response_seconds",
            "Time from ticket creation to the first agent response",
            ["priority"],
            buckets=_buckets(first),
        ),
        resolution_seconds=Histogram(
            "tickets_sla_resolution_seconds",
            "Time from ticket creation to resolution",
            ["priority"],
            buckets=_buckets(resolution),
        ),
        breaches=Counter(
            "tickets_sla_breaches_total", "SLA breaches announced", ["kind", "priority"]
        ),
        warnings=Counter(
            "tickets_sla_warnings_total", "SLA warnings announced", ["kind", "priority"]
        ),
        auto_closed=Counter(
            "tickets_sla_auto_closed_total", "Resolved tickets closed after the quiet period"
        ),
        open_tickets=Gauge(
            "tickets_sla_open_tickets", "Tickets not closed or cancelled", ["status", "priority"]
        ),
        compliance=Gauge(
            "tickets_sla_compliance_ratio",
            "Share of tickets with a known outcome that met the target",
            ["kind"],
        ),
        scan_seconds=Histogram(
            "tickets_sla_scan_duration_seconds",
            "Duration of one scan for due timers",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        ),
    )


def sla_metrics(policy: SlaPolicy) -> SlaMetrics:
    global _metrics  # noqa: PLW0603 - one set of series per process, by design
    with _lock:
        if _metrics is None:
            _metrics = _create(policy)
        return _metrics
