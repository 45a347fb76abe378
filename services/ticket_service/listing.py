"""Listing filters and sort orders as Mongo queries (shared by the queue and the REST API)."""

import re
from collections.abc import Mapping
from typing import Any

from contracts import commands as cmd
from contracts.enums import TicketStatus

_TICKET_ID = re.compile(r"^TICKET-\d{4}-\d{6,}$", re.IGNORECASE)
_SORT_FIELDS = {
    "createdAt": "createdAt",
    "updatedAt": "updatedAt",
    "priority": "priorityRank",
    "slaDueAt": "sla.resolutionDueAt",
}
DONE = [TicketStatus.CLOSED, TicketStatus.CANCELLED]


def build_query(
    command: cmd.ListTickets, customers_by_word: Mapping[str, list[str]] | None = None
) -> dict[str, Any]:
    """`customers_by_word`: for each word of `q`, the customers whose phone or name has it."""
    query: dict[str, Any] = {}
    for field, values in (
        ("status", command.status),
        ("priority", command.priority),
        ("category", command.category),
    ):
        if values:
            query[field] = {"$in": [str(v) for v in values]}
    if command.open_only:
        query.setdefault("status", {})["$nin"] = [str(s) for s in DONE]
    if command.assigned_agent is not None:
        query["assignedAgent"] = (
            None if command.assigned_agent == "none" else command.assigned_agent
        )
    if command.customer_id is not None:
        query["customerId"] = command.customer_id
    created = {
        op: moment
        for op, moment in (("$gte", command.created_from), ("$lte", command.created_to))
        if moment is not None
    }
    if created:
        query["createdAt"] = created
    if command.q:
        query |= _text_query(command.q, customers_by_word or {})
    return query


_SEARCHED = ("ticketId", "title", "description")
_MAX_WORDS = 8


def search_words(text: str) -> list[str]:
    """The words `q` is matched by; none for a whole ticket id (matched exactly)."""
    if _TICKET_ID.fullmatch(text.strip()):
        return []
    return text.split()[:_MAX_WORDS]


def _text_query(text: str, customers_by_word: Mapping[str, list[str]]) -> dict[str, Any]:
    """Every word must appear (case-insensitive) in the ticket id, title or description,
    or in the phone or name of the ticket's customer.

    Regexes rather than `$text`: the embedded Mongo wire server has no text search, and
    the same query then behaves the same on MongoDB."""
    if _TICKET_ID.fullmatch(text.strip()):
        return {"ticketId": text.strip().upper()}
    return {"$and": [_word_query(w, customers_by_word.get(w, [])) for w in search_words(text)]}


def _word_query(word: str, customer_ids: list[str]) -> dict[str, Any]:
    matches: list[dict[str, Any]] = [
        {field: {"$regex": re.escape(word), "$options": "i"}} for field in _SEARCHED
    ]
    if customer_ids:
        matches.append({"customerId": {"$in": customer_ids}})
    return {"$or": matches}


def build_sort(sort: str) -> list[tuple[str, int]]:
    """Sort plus `ticketId` as a tie-breaker, so pages never shuffle."""
    direction = -1 if sort.startswith("-") else 1
    field = _SORT_FIELDS[sort.lstrip("-")]
    return [(field, direction), ("ticketId", direction)]
