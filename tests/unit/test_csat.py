"""CSAT on the pure domain: which replies are ratings, the window, once per resolution."""

from datetime import datetime, timedelta

import pytest

from contracts.enums import Channel, Language, TicketStatus
from contracts.tickets import Ticket
from services.ticket_service.domain import operations as ops
from services.ticket_service.domain.csat import (
    CsatRequest,
    CsatText,
    ReplyKind,
    new_request,
    parse_number,
    read_reply,
    say,
)
from services.ticket_service.domain.errors import AlreadyRated
from services.ticket_service.domain.model import change_status
from tests.unit.test_ticket_operations import AGENT, NOW, POLICY, new_ticket, walk

WINDOW = timedelta(hours=24)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("5", 5),
        (" 4 ", 4),
        ("3.", 3),
        ("5!", 5),
        ("4/5", 4),
        ("⭐5", 5),
        ("5 ⭐⭐⭐⭐⭐", 5),
        ("9", 9),
        ("0", 0),
        ("10", 10),
        ("five", None),
        ("5 stars, great", None),
        ("I have 2 problems", None),
        ("TICKET-2026-000001", None),
        ("", None),
        ("1234", None),
    ],
)
def test_only_a_reply_that_is_just_a_number_is_read_as_one(text: str, number: int | None) -> None:
    assert parse_number(text) == number


def resolved(at: timedelta = timedelta(0)) -> Ticket:
    ticket = ops.assign(new_ticket(), AGENT.id or "", AGENT, NOW, POLICY).ticket
    return change_status(ticket, TicketStatus.RESOLVED, AGENT, NOW + at, POLICY).ticket


def asked(ticket: Ticket, minutes: int = 1) -> CsatRequest:
    request = new_request(ticket, NOW + timedelta(minutes=minutes), WINDOW, Language.EN, "m1")
    assert request is not None
    return request


def test_a_request_is_about_one_resolution_of_a_whatsapp_ticket() -> None:
    ticket = resolved()
    request = asked(ticket)
    assert request.id == f"{ticket.ticket_id}:{ticket.resolved_at.isoformat()}"  # type: ignore[union-attr]
    assert request.expires_at == NOW + timedelta(minutes=1) + WINDOW
    assert (request.customer_id, request.message_id) == (ticket.customer_id, "m1")
    assert new_request(new_ticket(), NOW, WINDOW, None, "m2") is None  # not resolved
    by_email = ticket.model_copy(update={"channel": Channel.EMAIL})
    assert new_request(by_email, NOW, WINDOW, None, "m2") is None
    rated = ops.rate(ticket, 4, None, NOW + timedelta(minutes=1)).ticket
    assert new_request(rated, NOW + timedelta(minutes=2), WINDOW, None, "m2") is None


def reply(ticket: Ticket, request: CsatRequest, text: str, at: datetime) -> tuple[str, int]:
    found = read_reply(ticket, request, text, at)
    assert found is not None, text
    return found.kind.value, found.number


def test_replies_inside_the_window_rate_refuse_or_say_it_was_rated() -> None:
    ticket = resolved()
    request = asked(ticket)
    inside = NOW + timedelta(hours=2)
    assert reply(ticket, request, "5", inside) == (ReplyKind.RATED, 5)
    assert reply(ticket, request, "9", inside) == (ReplyKind.OUT_OF_RANGE, 9)
    assert reply(ticket, request, "0", inside) == (ReplyKind.OUT_OF_RANGE, 0)
    assert read_reply(ticket, request, "thanks, all good", inside) is None
    after = ops.rate(ticket, 5, None, inside).ticket
    assert reply(after, request, "4", inside + timedelta(minutes=1)) == (
        ReplyKind.ALREADY_RATED,
        4,
    )
    closed = change_status(after, TicketStatus.CLOSED, AGENT, inside, POLICY).ticket
    assert reply(closed, request, "4", inside) == (ReplyKind.ALREADY_RATED, 4)


def test_nothing_is_a_rating_outside_the_window_or_after_a_reopen() -> None:
    ticket = resolved()
    request = asked(ticket, minutes=0)
    assert read_reply(ticket, request, "5", NOW + WINDOW) is None  # the window is half-open
    assert read_reply(ticket, request, "5", NOW + WINDOW - timedelta(seconds=1)) is not None
    assert read_reply(ticket, request, "5", NOW - timedelta(seconds=1)) is None
    later = NOW + timedelta(hours=1)
    reopened = change_status(ticket, TicketStatus.REOPENED, AGENT, later, POLICY).ticket
    assert read_reply(reopened, request, "5", later) is None
    again = walk(reopened, TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED, at=later)
    assert read_reply(again, request, "5", later) is None  # the old resolution's request


def test_a_ticket_is_rated_once_per_resolution() -> None:
    ticket = ops.rate(resolved(), 2, None, NOW + timedelta(hours=1)).ticket
    with pytest.raises(AlreadyRated, match="already rated 2"):
        ops.rate(ticket, 5, None, NOW + timedelta(hours=2))
    later = NOW + timedelta(hours=3)
    again = walk(
        change_status(ticket, TicketStatus.REOPENED, AGENT, later, POLICY).ticket,
        TicketStatus.IN_PROGRESS,
        TicketStatus.RESOLVED,
        at=later + timedelta(hours=1),
    )
    assert again.rated_this_resolution is False
    rerated = ops.rate(again, 5, None, later + timedelta(hours=2)).ticket
    assert rerated.customer_satisfaction is not None
    assert rerated.customer_satisfaction.rating == 5


def test_every_text_exists_in_spanish_and_english() -> None:
    for text in CsatText:
        for language in Language:
            assert say(text, language, ticket_id="T", rating=5, number=9)
    assert "1" in say(CsatText.OUT_OF_RANGE, None, number=9)  # Spanish by default
    assert "valoración" in say(CsatText.OUT_OF_RANGE, None, number=9)
