"""A customer's message that answered a rating request: the ticket service already
recorded (or refused) the rating and wrote the answer; the model is not asked. Pure."""

from typing import Any

RATING_ACTIONS = frozenset({"csat_rated", "csat_refused", "csat_already_rated"})


def rating_answer(outcome: Any) -> tuple[str, str | None] | None:
    """(the text to send, the rated ticket's id) from a `tickets.v1.customer_message`
    outcome, or None when the message was not a rating."""
    if not isinstance(outcome, dict) or outcome.get("action") not in RATING_ACTIONS:
        return None
    reply = outcome.get("reply")
    if not isinstance(reply, str) or not reply:
        return None
    ticket = outcome.get("ticket")
    ticket_id = ticket.get("ticketId") if isinstance(ticket, dict) else None
    return reply, ticket_id if isinstance(ticket_id, str) else None
