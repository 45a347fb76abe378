"""How much one customer message (a turn) and one conversation may make the assistant do.

A model steered by a hostile message can call tools in a loop: open tickets, fill one with
visible notes, escalate it to urgent. Every tool call counts against the turn's and the
conversation's budgets of calls, and notes and escalations against their own smaller
ones; the turn's wall time is checked before each call. What runs out is named, so the
loop can stop and hand the conversation to a person.
"""

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum


class Spent(StrEnum):
    """Which budget ran out (the `budget` label of the metric)."""

    TURN_TOOL_CALLS = "turn_tool_calls"
    TURN_NOTES = "turn_notes"
    TURN_ESCALATIONS = "turn_escalations"
    TURN_TIME = "turn_time"
    CONVERSATION_TOOL_CALLS = "conversation_tool_calls"
    CONVERSATION_NOTES = "conversation_notes"
    CONVERSATION_ESCALATIONS = "conversation_escalations"


class Kind(StrEnum):
    TOOL_CALLS = "tool_calls"
    NOTES = "notes"
    ESCALATIONS = "escalations"


KINDS_BY_TOOL: dict[str, tuple[Kind, ...]] = {
    "add_ticket_comment": (Kind.TOOL_CALLS, Kind.NOTES),
    "request_human_agent": (Kind.TOOL_CALLS, Kind.ESCALATIONS),
}
"""Every other name (unknown ones included) is one tool call."""

TURN_SPENT = {
    Kind.TOOL_CALLS: Spent.TURN_TOOL_CALLS,
    Kind.NOTES: Spent.TURN_NOTES,
    Kind.ESCALATIONS: Spent.TURN_ESCALATIONS,
}
CONVERSATION_SPENT = {
    Kind.TOOL_CALLS: Spent.CONVERSATION_TOOL_CALLS,
    Kind.NOTES: Spent.CONVERSATION_NOTES,
    Kind.ESCALATIONS: Spent.CONVERSATION_ESCALATIONS,
}


def kinds_of(tool: str) -> tuple[Kind, ...]:
    return KINDS_BY_TOOL.get(tool, (Kind.TOOL_CALLS,))


@dataclass(frozen=True, slots=True)
class Limits:
    tool_calls: int
    notes: int
    escalations: int

    def of(self, kind: Kind) -> int:
        return {
            Kind.TOOL_CALLS: self.tool_calls,
            Kind.NOTES: self.notes,
            Kind.ESCALATIONS: self.escalations,
        }[kind]


@dataclass
class TurnBudget:
    """One customer message's allowance; `deadline` is on the same clock as `now`."""

    limits: Limits
    deadline: float
    used: Counter[Kind] = field(default_factory=Counter)

    def charge(self, tool: str, now: float) -> Spent | None:
        """Counts the call if it fits; else what ran out (and nothing is counted)."""
        if now >= self.deadline:
            return Spent.TURN_TIME
        kinds = kinds_of(tool)
        for kind in kinds:
            if self.used[kind] >= self.limits.of(kind):
                return TURN_SPENT[kind]
        self.used.update(kinds)
        return None
