"""Listing filters, sort orders and page cursors as Mongo queries (shared by the queue and
the REST API).

A cursor is where the previous page ended: its last ticket's sort value and `ticketId`
(the tie-breaker), the page it leads to, and a fingerprint of the filters and sort it was
made for. The next page is then one range query on the sort's index (`sortField, ticketId`)
instead of skipping every earlier ticket, and tickets inserted meanwhile cannot shift a
ticket onto two pages. A cursor is a position, not a permission: the caller's scope is
applied to every page again.
"""

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from contracts import commands as cmd
from contracts.enums import PRIORITY_ORDER, TicketStatus
from contracts.tickets import Ticket
from services.ticket_service.domain.errors import ValidationFailed

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


CURSOR_VERSION = 1
_FINGERPRINTED = {"actor", "page", "limit", "cursor"}


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: the last ticket's sort value and id, and the next page's number."""

    value: int | datetime | None
    ticket_id: str
    page: int


def _fingerprint(command: cmd.ListTickets) -> str:
    """The listing a cursor belongs to: its filters and sort (not who asks, nor the size)."""
    wanted = command.model_dump(mode="json", by_alias=True, exclude=_FINGERPRINTED)
    text = json.dumps(wanted, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sort_value(ticket: Ticket, sort: str) -> int | datetime | None:
    field = sort.lstrip("-")
    if field == "priority":
        return PRIORITY_ORDER.index(ticket.priority)
    if field == "slaDueAt":
        return ticket.sla.resolution_due_at
    return ticket.updated_at if field == "updatedAt" else ticket.created_at


def encode_cursor(command: cmd.ListTickets, last: Ticket, page: int) -> str:
    """The cursor of the page after the one that ended with `last`."""
    value = _sort_value(last, command.sort)
    encoded = {"at": value.isoformat()} if isinstance(value, datetime) else value
    body = [CURSOR_VERSION, _fingerprint(command), encoded, last.ticket_id, page]
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(command: cmd.ListTickets) -> Position:
    """The position `command.cursor` names; `validation` when it is not a cursor of this
    listing (unreadable, tampered, or made for other filters or another sort)."""
    assert command.cursor is not None
    try:
        raw = base64.urlsafe_b64decode(command.cursor + "=" * (-len(command.cursor) % 4))
        version, fingerprint, encoded, ticket_id, page = json.loads(raw)
        value = _decoded_value(encoded)
        valid = isinstance(ticket_id, str) and bool(_TICKET_ID.fullmatch(ticket_id))
        valid = valid and isinstance(page, int) and not isinstance(page, bool) and page >= 1
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as error:
        raise ValidationFailed("cursor: not a cursor this API issued") from error
    if version != CURSOR_VERSION or not valid:
        raise ValidationFailed("cursor: not a cursor this API issued")
    if fingerprint != _fingerprint(command):
        raise ValidationFailed(
            "cursor: it belongs to a listing with other filters or another sort; "
            "repeat the filters and sort of the request that returned it"
        )
    return Position(value, ticket_id, page)


def _decoded_value(encoded: Any) -> int | datetime | None:
    if encoded is None:
        return None
    if isinstance(encoded, int) and not isinstance(encoded, bool):
        return encoded
    if isinstance(encoded, dict) and isinstance(encoded.get("at"), str) and len(encoded) == 1:
        moment = datetime.fromisoformat(encoded["at"])
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise ValueError("unreadable sort value")


def after(sort: str, position: Position) -> dict[str, Any]:
    """The tickets that come after `position` in `sort`'s order (nulls first ascending,
    last descending, as MongoDB sorts them)."""
    (field, direction), _ = build_sort(sort)
    beyond = "$gt" if direction == 1 else "$lt"
    same = {field: position.value, "ticketId": {beyond: position.ticket_id}}
    if position.value is None:
        return {"$or": [same, {field: {"$ne": None}}]} if direction == 1 else same
    later: list[dict[str, Any]] = [{field: {beyond: position.value}}, same]
    if direction == -1:
        later.append({field: None})
    return {"$or": later}
