"""A ticket's conversation: the customer's WhatsApp messages and the assistant's and the
agents' replies, as stored, pushed and listed, and the commands that add to it."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from contracts.actors import AgentActor, CustomerActor, SystemActor
from contracts.base import StoredModel, WireModel
from contracts.commands import CustomerByPhone, Moment, TicketId
from contracts.delivery import DeliveryError
from contracts.replies import Pagination

TEXT_LIMIT = 4096
"""An agent's reply: WhatsApp's limit for one text message."""
RECORDED_TEXT_LIMIT = 65_536
"""A recorded message: what `whatsapp.inbound` accepts."""
MAX_ATTACHMENTS = 10


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class AuthorType(StrEnum):
    CUSTOMER = "customer"
    ASSISTANT = "assistant"
    AGENT = "agent"
    SYSTEM = "system"


RESPONDERS = frozenset({AuthorType.AGENT, AuthorType.SYSTEM})
"""Authors whose outbound message is the human side's response (first-response SLA)."""


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    """Written with its outbox entry; not yet on `whatsapp.outbound`."""
    QUEUED = "queued"
    """Published (persistent, confirmed) on `whatsapp.outbound` for the WhatsApp sender."""
    RECEIVED = "received"
    """An inbound message: the customer sent it."""
    UNKNOWN = "unknown"
    """The WhatsApp channel's call got no answer: it may or may not have gone out."""
    SENT = "sent"
    """WhatsApp took it (its delivery report)."""
    DELIVERED = "delivered"
    """On the customer's phone."""
    READ = "read"
    """The customer opened it."""
    FAILED = "failed"
    """WhatsApp could not deliver it, or the channel gave up (see `delivery.error`)."""


AttachmentType = Literal["image", "document", "audio", "video", "sticker", "location"]


def _url_with(schemes: frozenset[str], *, local_paths: bool = False) -> AfterValidator:
    def check(url: str) -> str:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if local_paths and not scheme and not parts.netloc and url.startswith("/api/"):
            return url
        if scheme not in schemes:
            raise ValueError(f"url must use {' or '.join(sorted(schemes))}")
        if scheme in ("http", "https") and not parts.netloc:
            raise ValueError("url must name a host")
        return url

    return AfterValidator(check)


HttpUrlText = Annotated[
    str, Field(min_length=8, max_length=2048), _url_with(frozenset({"http", "https"}))
]
MediaUrlText = Annotated[
    str,
    Field(
        min_length=5,
        max_length=2048,
        description="http(s); a geo: URI for a location; or a path on this API (`/api/...`, "
        "e.g. the WhatsApp channel's media route)",
    ),
    _url_with(frozenset({"http", "https", "geo"}), local_paths=True),
]


class OutgoingAttachment(WireModel):
    """A file an agent sends with a reply, already hosted where WhatsApp can fetch it."""

    url: HttpUrlText = Field(examples=["https://files.example.com/label-12345.pdf"])
    type: AttachmentType
    filename: str | None = Field(default=None, max_length=255)


class MessageAttachment(StoredModel):
    url: str
    type: str
    filename: str | None = None
    size: int | None = Field(default=None, description="Bytes, when the channel said")
    mime_type: str | None = None
    media_id: str | None = Field(default=None, description="The channel's media id")


class MessageAuthor(StoredModel):
    type: AuthorType
    id: str | None = Field(default=None, description="The agent or customer id")
    name: str | None = None


def _absent(value: object) -> bool:
    return value is None


class Delivery(StoredModel):
    """Fields not known yet are left out (`{"status": "queued"}` until WhatsApp reports)."""

    status: DeliveryStatus
    at: datetime | None = Field(
        default=None, exclude_if=_absent, description="When it reached this status"
    )
    error: DeliveryError | None = Field(
        default=None, exclude_if=_absent, description="Why it failed"
    )
    sent_as: Literal["text", "template"] | None = Field(
        default=None,
        exclude_if=_absent,
        description="A template when the customer's 24-hour window had closed",
    )


class TicketMessage(StoredModel):
    """One message of a ticket's conversation, oldest first by `createdAt`."""

    id: str
    ticket_id: str
    direction: Direction
    author: MessageAuthor
    text: str
    attachments: list[MessageAttachment] = Field(default_factory=list)
    created_at: datetime = Field(description="When it was sent (inbound: WhatsApp's time)")
    delivery: Delivery
    reply_to: str | None = Field(default=None, description="The channel message id answered")
    external_id: str | None = Field(
        default=None, description="The message's id on the channel (WhatsApp message id)"
    )

    @property
    def is_response(self) -> bool:
        return self.direction is Direction.OUTBOUND and self.author.type in RESPONDERS


class ReplyToCustomer(WireModel):
    """An agent (or a service) answers the customer on the ticket's channel."""

    actor: AgentActor | SystemActor = Field(discriminator="type")
    ticket_id: TicketId
    text: str = Field(min_length=1, max_length=TEXT_LIMIT)
    attachments: list[OutgoingAttachment] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class ListMessages(WireModel):
    actor: AgentActor | CustomerActor | SystemActor = Field(discriminator="type")
    ticket_id: TicketId
    page: int = Field(default=1, ge=1, le=100_000)
    limit: int = Field(default=50, ge=1, le=100)


class RecordedAttachment(WireModel):
    url: MediaUrlText
    type: AttachmentType
    filename: str | None = Field(default=None, max_length=500)
    size: int | None = Field(default=None, ge=0)
    mime_type: str | None = Field(default=None, max_length=255)
    media_id: str | None = Field(default=None, max_length=200)


class RecordedMessage(WireModel):
    """A message that already went over the channel: recorded, not sent."""

    message_id: str = Field(
        min_length=1,
        max_length=200,
        description="Its id on the channel (a WhatsApp message id, or the id a reply was "
        "published with); recorded once per ticket",
    )
    direction: Direction
    author_type: Literal[AuthorType.CUSTOMER, AuthorType.ASSISTANT]
    text: str = Field(default="", max_length=RECORDED_TEXT_LIMIT)
    attachments: list[RecordedAttachment] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    sent_at: Moment
    reply_to: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _consistent(self) -> "RecordedMessage":
        if not self.text and not self.attachments:
            raise ValueError("a message needs text or attachments")
        inbound = self.direction is Direction.INBOUND
        if inbound != (self.author_type is AuthorType.CUSTOMER):
            raise ValueError("inbound messages are the customer's, outbound the assistant's")
        return self


class RecordMessages(WireModel):
    """Record messages on a customer's ticket conversation (the assistant's turn, another
    CRM channel). Request/reply, or one-way: a message without `reply_to` is applied and
    not answered, and a storage failure puts it back on the queue."""

    actor: CustomerActor | SystemActor = Field(discriminator="type")
    customer: CustomerByPhone | None = Field(
        default=None, description="Whose conversation; required when the actor is the System"
    )
    ticket_id: TicketId | None = Field(
        default=None,
        description="The ticket the messages are about (the assistant's choice); otherwise "
        "the customer's most recently updated unresolved ticket",
    )
    conversation_id: str | None = Field(default=None, max_length=64)
    messages: list[RecordedMessage] = Field(min_length=1, max_length=20)
    if_no_ticket: Literal["skip", "open_for_human"] = Field(
        default="skip",
        description="With no ticket to record on: record nothing, or open a `source: ai` "
        "ticket tagged `needs-human` (the assistant could not answer)",
    )

    @model_validator(mode="after")
    def _customer_named(self) -> "RecordMessages":
        if isinstance(self.actor, SystemActor) and self.customer is None:
            raise ValueError("customer is required when the actor is the System")
        return self


class RecordOutcome(BaseModel):
    """`tickets.v1.record_messages` data."""

    model_config = ConfigDict(populate_by_name=True)

    ticket_id: str | None = Field(default=None, alias="ticketId")
    recorded: list[str] = Field(
        default_factory=list, description="Ids of the messages stored by this request"
    )
    ticket_opened: bool = Field(default=False, alias="ticketOpened")


class MessagePage(BaseModel):
    items: list[TicketMessage]
    pagination: Pagination
