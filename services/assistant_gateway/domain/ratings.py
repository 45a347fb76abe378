"""A customer's message that answered a rating request: the ticket service already
recorded (or refused) the rating and wrote the answer; the model is not asked. Pure."""

from contracts.replies import CustomerMessageOutcome

RATING_ACTIONS = frozenset({"csat_rated", "csat_refused", "csat_already_rated"})


def rating_answer(outcome: CustomerMessageOutcome | None) -> tuple[str, str | None] | None:
    """(the text to send, the rated ticket's id) from a `tickets.v1.customer_message`
    outcome, or None when the message was not a rating."""
    if outcome is None or outcome.action not in RATING_ACTIONS or not outcome.reply:
        return None
    ticket_id = (outcome.ticket or {}).get("ticketId")
    return outcome.reply, ticket_id if isinstance(ticket_id, str) else None
