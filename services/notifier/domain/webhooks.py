"""Webhook rules as data: which events an endpoint wants, and what follows an attempt."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import get_args

from contracts.events import Event


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DEAD = "dead"


DUE_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)

EVENT_TYPES: frozenset[str] = frozenset(
    get_args(member.model_fields["type"].annotation)[0] for member in get_args(get_args(Event)[0])
)
"""Every event type on `tickets.events` (`ticket.created`, `sla.breached`, ...)."""


def valid_filter(pattern: str) -> bool:
    """A filter is an event type, `*`, or a prefix wildcard such as `ticket.*`."""
    if pattern in EVENT_TYPES or pattern == "*":
        return True
    return pattern.endswith(".*") and any(t.startswith(pattern[:-1]) for t in EVENT_TYPES)


def wants(filters: list[str], event_type: str) -> bool:
    return any(fnmatchcase(event_type, pattern) for pattern in filters)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    first_delay: timedelta
    max_delay: timedelta

    def delay_after(self, attempts: int) -> timedelta:
        """Exponential: first_delay, 2x, 4x, ... capped at max_delay."""
        doublings = min(max(attempts - 1, 0), 30)
        return min(self.first_delay * (1 << doublings), self.max_delay)


@dataclass(frozen=True, slots=True)
class Outcome:
    status: DeliveryStatus
    next_attempt_at: datetime | None


def after_attempt(policy: RetryPolicy, attempts: int, succeeded: bool, now: datetime) -> Outcome:
    """`attempts` counts the one just made."""
    if succeeded:
        return Outcome(DeliveryStatus.DELIVERED, None)
    if attempts >= policy.max_attempts:
        return Outcome(DeliveryStatus.DEAD, None)
    return Outcome(DeliveryStatus.RETRYING, now + policy.delay_after(attempts))
