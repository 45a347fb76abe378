"""Customer satisfaction (CSAT) over WhatsApp: the rating request of one resolution, what a
customer's reply means while it is open, and the texts of the exchange. Pure: `now` is
passed in.

A resolution is asked about once: its request records when the question was asked and
until when a bare number is read as the rating (the window). Inside the window a reply
that is only a number (`5`, ` 4. `, `3/5`, `5⭐`) is the rating when it is 1-5, and is
refused with a message otherwise (`9`, `0`, `10`); a rating already given for this
resolution is kept, and the customer is told so. Anything else (words, a number inside a
sentence) is an ordinary message. Outside the window, or once the ticket was reopened,
nothing is read as a rating.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field

from contracts.base import StoredModel
from contracts.enums import Channel, Language, TicketStatus
from contracts.tickets import Ticket

RATEABLE_STATUSES = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED})
_BARE_NUMBER = re.compile(r"^\W*?(\d{1,3})\s*(?:/\s*5)?[\s.!*\u2b50\ufe0f\u2605]*$")


class CsatRequest(StoredModel):
    """The question about one resolution (`resolvedAt`) of a ticket, and its window."""

    id: str = Field(alias="_id", description="<ticketId>:<resolvedAt>")
    ticket_id: str
    customer_id: str
    resolved_at: datetime
    requested_at: datetime
    expires_at: datetime
    language: Language | None = None
    message_id: str = Field(description="The conversation message that asks")


def request_id(ticket_id: str, resolved_at: datetime) -> str:
    return f"{ticket_id}:{resolved_at.isoformat()}"


def parse_number(text: str) -> int | None:
    """The number a reply consists of, or None when the reply is more than a number."""
    match = _BARE_NUMBER.fullmatch(text.strip())
    return None if match is None else int(match.group(1))


def rated_this_cycle(ticket: Ticket) -> bool:
    return ticket.rated_this_resolution


def new_request(
    ticket: Ticket,
    now: datetime,
    window: timedelta,
    language: Language | None,
    message_id: str,
) -> CsatRequest | None:
    """The request to make for the ticket's current resolution; None when there is none to
    make: not resolved (any more), not a WhatsApp ticket, or already rated."""
    resolved = ticket.resolved_at
    if (
        ticket.status not in RATEABLE_STATUSES
        or resolved is None
        or ticket.channel is not Channel.WHATSAPP
        or rated_this_cycle(ticket)
    ):
        return None
    return CsatRequest(
        id=request_id(ticket.ticket_id, resolved),
        ticket_id=ticket.ticket_id,
        customer_id=ticket.customer_id,
        resolved_at=resolved,
        requested_at=now,
        expires_at=now + window,
        language=language,
        message_id=message_id,
    )


def window_open(ticket: Ticket, request: CsatRequest, now: datetime) -> bool:
    """The request is about the ticket's current resolution and has not expired."""
    return (
        ticket.status in RATEABLE_STATUSES
        and ticket.resolved_at == request.resolved_at
        and request.requested_at <= now < request.expires_at
    )


class ReplyKind(StrEnum):
    RATED = "csat_rated"
    OUT_OF_RANGE = "csat_refused"
    ALREADY_RATED = "csat_already_rated"


@dataclass(frozen=True, slots=True)
class RatingReply:
    kind: ReplyKind
    number: int


def read_reply(
    ticket: Ticket, request: CsatRequest, text: str, now: datetime
) -> RatingReply | None:
    """What `text` means for the open rating request; None: not a rating."""
    number = parse_number(text)
    if number is None or not window_open(ticket, request, now):
        return None
    if rated_this_cycle(ticket):
        return RatingReply(ReplyKind.ALREADY_RATED, number)
    if not 1 <= number <= 5:
        return RatingReply(ReplyKind.OUT_OF_RANGE, number)
    return RatingReply(ReplyKind.RATED, number)


class CsatText(StrEnum):
    ASK = "ask"
    THANKS = "thanks"
    OUT_OF_RANGE = "out_of_range"
    ALREADY_RATED = "already_rated"


TEXTS: dict[CsatText, dict[Language, str]] = {
    CsatText.ASK: {
        Language.ES: "Tu ticket {ticket_id} está resuelto. ¿Cómo valorarías la atención "
        "recibida? Responde con un número del 1 (muy mala) al 5 (excelente).",
        Language.EN: "Your ticket {ticket_id} is resolved. How would you rate the help you "
        "got? Reply with a number from 1 (very poor) to 5 (excellent).",
    },
    CsatText.THANKS: {
        Language.ES: "¡Gracias! Hemos registrado tu valoración de {rating} para el ticket "
        "{ticket_id}.",
        Language.EN: "Thank you! We recorded your rating of {rating} for ticket {ticket_id}.",
    },
    CsatText.OUT_OF_RANGE: {
        Language.ES: "{number} no es una valoración válida. Responde con un número del 1 al 5, "
        "por favor.",
        Language.EN: "{number} is not a valid rating. Please reply with a number from 1 to 5.",
    },
    CsatText.ALREADY_RATED: {
        Language.ES: "Ya registramos tu valoración de {rating} para el ticket {ticket_id}. "
        "¡Gracias!",
        Language.EN: "We already recorded your rating of {rating} for ticket {ticket_id}. "
        "Thank you!",
    },
}

REPLY_TEXT = {
    ReplyKind.RATED: CsatText.THANKS,
    ReplyKind.OUT_OF_RANGE: CsatText.OUT_OF_RANGE,
    ReplyKind.ALREADY_RATED: CsatText.ALREADY_RATED,
}


def say(text: CsatText, language: Language | None, **values: object) -> str:
    return TEXTS[text][language or Language.ES].format(**values)
