"""The lifecycle table of DESIGN.md and the one guarded function that moves a status."""

from contracts.enums import TicketStatus as S
from services.ticket_service.domain.errors import InvalidTransition

ALLOWED_TRANSITIONS: dict[S, frozenset[S]] = {
    S.NEW: frozenset({S.OPEN, S.CANCELLED}),
    S.OPEN: frozenset({S.IN_PROGRESS, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.PENDING_CUSTOMER, S.RESOLVED, S.CANCELLED}),
    S.PENDING_CUSTOMER: frozenset({S.IN_PROGRESS, S.RESOLVED, S.CANCELLED}),
    S.RESOLVED: frozenset({S.CLOSED, S.REOPENED}),
    S.CLOSED: frozenset({S.REOPENED}),
    S.CANCELLED: frozenset(),
    S.REOPENED: frozenset({S.IN_PROGRESS}),
}

TERMINAL_OR_DONE: frozenset[S] = frozenset({S.RESOLVED, S.CLOSED, S.CANCELLED})
"""Statuses in which no SLA clock runs and no assignment is taken."""
OPEN_STATUSES = [s for s in S if s not in TERMINAL_OR_DONE]
"""A customer's tickets that still wait for the support team (not resolved or done)."""

ASSIGNMENT_STARTS_WORK: frozenset[S] = frozenset({S.NEW, S.OPEN, S.REOPENED})


def check_transition(current: S, requested: S) -> None:
    allowed = ALLOWED_TRANSITIONS[current]
    if requested not in allowed:
        raise InvalidTransition(current, requested, allowed)


def path_to_in_progress(current: S) -> list[S]:
    """The statuses an assignment walks through: new -> open -> in_progress."""
    if current is S.NEW:
        return [S.OPEN, S.IN_PROGRESS]
    if current in (S.OPEN, S.REOPENED):
        return [S.IN_PROGRESS]
    return []
