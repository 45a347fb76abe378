"""What a conversation message does to its ticket, and the wire shapes around it (pure)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from contracts.conversation import (
    AuthorType,
    Delivery,
    DeliveryStatus,
    Direction,
    MessageAttachment,
    MessageAuthor,
    RecordedAttachment,
    RecordedMessage,
    RecordMessages,
    ReplyToCustomer,
    TicketMessage,
)
from contracts.enums import ActorType, TicketStatus
from contracts.events import TicketStatusChanged, TicketUpdated
from contracts.tickets import Ticket
from contracts.whatsapp import WhatsAppInbound
from services.assistant_gateway.domain.transcript import Entry, FunctionOutput, UserMessage
from services.assistant_gateway.domain.turns import chosen_ticket, turn_record
from services.ticket_service.domain import conversation as conv
from services.ticket_service.domain.errors import InvalidTransition, ValidationFailed
from services.ticket_service.domain.model import ActorRef
from tests.unit.test_ticket_operations import AGENT_ID, NOW, POLICY, new_ticket, walk

AGENT_AUTHOR = MessageAuthor(type=AuthorType.AGENT, id=AGENT_ID, name="Ana")


def message(
    ticket: Ticket,
    author: MessageAuthor = AGENT_AUTHOR,
    direction: Direction = Direction.OUTBOUND,
    at: datetime = NOW,
    attachments: list[MessageAttachment] | None = None,
) -> TicketMessage:
    return TicketMessage(
        id="m1",
        ticket_id=ticket.ticket_id,
        direction=direction,
        author=author,
        text="Hola",
        attachments=attachments or [],
        created_at=at,
        delivery=Delivery(status=DeliveryStatus.PENDING),
    )


@pytest.mark.parametrize("status", list(TicketStatus))
def test_replies_are_refused_only_on_closed_and_cancelled_tickets(status: TicketStatus) -> None:
    ticket = new_ticket().model_copy(update={"status": status})
    if status in (TicketStatus.CLOSED, TicketStatus.CANCELLED):
        with pytest.raises(InvalidTransition) as refused:
            conv.check_replyable(ticket)
        assert "Replies are allowed in statuses: in_progress, new, open" in refused.value.message
        assert TicketStatus.CLOSED not in refused.value.allowed
    else:
        conv.check_replyable(ticket)


def test_an_agents_reply_is_the_first_response_at_its_time_and_opens_a_new_ticket() -> None:
    ticket = new_ticket()
    sent = NOW + timedelta(minutes=30)
    change = conv.apply_message(ticket, message(ticket, at=sent), sent + timedelta(hours=6), POLICY)
    sla = change.ticket.sla
    assert sla.first_response_at == sent
    assert sla.first_response_met is True  # within 4 h although applied 6 h later
    assert change.ticket.first_response_time == 30 * 60 * 1000
    assert change.ticket.status is TicketStatus.OPEN
    assert change.ticket.status_history[-1].automated is True
    assert [type(e) for e in change.events] == [TicketUpdated, TicketStatusChanged]
    again = conv.apply_message(change.ticket, message(change.ticket), NOW, POLICY)
    assert again.events == []


def test_a_late_reply_misses_the_target_and_in_progress_stays() -> None:
    ticket = walk(new_ticket(), TicketStatus.OPEN, TicketStatus.IN_PROGRESS)
    late = NOW + timedelta(hours=5)
    change = conv.apply_message(ticket, message(ticket, at=late), late, POLICY)
    assert change.ticket.sla.first_response_met is False
    assert change.ticket.sla.first_response_breach_at == late
    assert change.ticket.status is TicketStatus.IN_PROGRESS


def test_the_assistants_and_the_customers_messages_are_no_response() -> None:
    ticket = new_ticket()
    for author, direction in (
        (MessageAuthor(type=AuthorType.ASSISTANT), Direction.OUTBOUND),
        (MessageAuthor(type=AuthorType.CUSTOMER, id="c"), Direction.INBOUND),
    ):
        change = conv.apply_message(ticket, message(ticket, author, direction), NOW, POLICY)
        assert change.events == []
        assert change.ticket.sla.first_response_at is None


def test_media_joins_the_ticket_attachments_once() -> None:
    ticket = new_ticket()
    photo = MessageAttachment(url="https://m.example/1.jpg", type="image", size=10)
    customer = MessageAuthor(type=AuthorType.CUSTOMER, id="c" * 24)
    inbound = message(ticket, customer, Direction.INBOUND, attachments=[photo])
    change = conv.apply_message(ticket, inbound, NOW, POLICY)
    [added] = change.ticket.attachments
    assert (added.url, added.size, added.message_id) == (photo.url, 10, "m1")
    assert added.uploaded_by_type is ActorType.CUSTOMER
    assert conv.apply_message(change.ticket, inbound, NOW, POLICY).events == []


def test_a_response_time_lies_between_creation_and_now() -> None:
    ticket = new_ticket()
    later = NOW + timedelta(hours=1)
    assert conv.response_time(ticket, None, later) == later
    assert conv.response_time(ticket, NOW, later) == NOW
    for wrong in (NOW - timedelta(seconds=1), later + timedelta(seconds=1)):
        with pytest.raises(ValidationFailed):
            conv.response_time(ticket, wrong, later)
    assert conv.respond(ticket, ActorRef.system(), NOW, later, POLICY).ticket.status == "open"


def test_a_reply_takes_http_attachments_and_bounded_text_only() -> None:
    base = {"actor": {"type": "Agent", "id": "a"}, "ticketId": "TICKET-2026-000001"}
    ReplyToCustomer.model_validate({**base, "text": "x" * 4096})
    for bad in (
        {"text": ""},
        {"text": "x" * 4097},
        {"text": "ok", "attachments": [{"url": "file:///etc/passwd", "type": "document"}]},
        {"text": "ok", "attachments": [{"url": "https://", "type": "image"}]},
        {"text": "ok", "attachments": [{"url": "https://x.example/a", "type": "exe"}]},
    ):
        with pytest.raises(ValidationError):
            ReplyToCustomer.model_validate({**base, **bad})


def test_the_chosen_ticket_is_the_last_successful_tool_output_naming_one() -> None:
    def output(body: object) -> FunctionOutput:
        return FunctionOutput(call_id="c", output=json.dumps(body))

    entries: list[Entry] = [
        UserMessage(text="hola"),
        output({"success": True, "ticketId": "TICKET-2026-000001"}),
        output({"success": True, "count": 2, "tickets": []}),
        output({"success": False, "ticketId": "TICKET-2026-000009"}),
        FunctionOutput(call_id="d", output="not json"),
    ]
    assert chosen_ticket(entries) == "TICKET-2026-000001"
    assert chosen_ticket([UserMessage(text="hola")]) is None


def test_a_turn_becomes_a_record_of_both_messages_with_the_media_it_carried() -> None:
    inbound = WhatsAppInbound.model_validate(
        {
            "messageId": "w1",
            "from": "+34600000001",
            "text": "Factura",
            "timestamp": "2026-01-01T10:00:00+01:00",
            "attachments": [
                {
                    "type": "document",
                    "mediaId": "12/34",
                    "mimeType": "application/pdf",
                    "filename": "f.pdf",
                    "caption": "Factura",
                },
                {
                    "type": "location",
                    "location": {"latitude": 40.4, "longitude": -3.7, "name": "Sol"},
                },
                {"type": "contacts", "contacts": [{"name": "Ana", "phones": ["+34611"]}]},
            ],
        }
    )
    actor = {"type": "Customer", "phone": "+34600000001"}
    replied = datetime(2026, 1, 1, 9, 0, 5, tzinfo=UTC)
    record = turn_record(inbound, actor, "Gracias", replied, ticket_id=None, fallback=True)
    command = RecordMessages.model_validate(record)
    first, reply = command.messages
    assert (first.message_id, first.text) == ("w1", "Factura")
    document, place = first.attachments
    assert document.url == "/api/v2/whatsapp/media/12%2F34"
    assert (document.media_id, document.filename, document.mime_type) == (
        "12/34",
        "f.pdf",
        "application/pdf",
    )
    assert (place.url, place.type, place.filename) == ("geo:40.4,-3.7", "location", "Sol")
    assert (reply.message_id, reply.reply_to, reply.sent_at) == ("reply-w1", "w1", replied)
    assert command.if_no_ticket == "open_for_human"


def test_recorded_attachment_urls_are_web_geo_or_this_apis_paths() -> None:
    base = {"type": "image"}
    for good in ("https://m.example/a.jpg", "geo:1,2", "/api/v2/whatsapp/media/1"):
        RecordedAttachment.model_validate({**base, "url": good})
    for bad in ("ftp://m/a", "javascript:alert(1)", "//evil.example/a", "/etc/passwd", "a.jpg"):
        with pytest.raises(ValidationError):
            RecordedAttachment.model_validate({**base, "url": bad})


def test_recorded_messages_pair_direction_and_author() -> None:
    base = {"messageId": "m", "text": "x", "sentAt": "2026-01-01T00:00:00Z"}
    RecordedMessage.model_validate({**base, "direction": "inbound", "authorType": "customer"})
    with pytest.raises(ValidationError):
        RecordedMessage.model_validate({**base, "direction": "inbound", "authorType": "assistant"})
    with pytest.raises(ValidationError):
        RecordedMessage.model_validate({**base, "direction": "outbound", "authorType": "agent"})
