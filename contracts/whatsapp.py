"""The WhatsApp pipeline's messages: `whatsapp.inbound` in, `whatsapp.outbound` out."""

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from contracts.actors import PhoneNumber
from contracts.conversation import OutgoingAttachment

AttachmentType = Literal["image", "document", "audio", "video", "sticker", "location", "contacts"]


class _Wire(BaseModel):
    """camelCase on the wire; fields a newer writer adds are ignored, not refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class WhatsAppLocation(_Wire):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: str | None = Field(default=None, max_length=1000)
    address: str | None = Field(default=None, max_length=1000)


class WhatsAppContactCard(_Wire):
    """A contact the customer shared (name and phone numbers only)."""

    name: str = Field(max_length=500)
    phones: list[str] = Field(default_factory=list, max_length=20)


class WhatsAppAttachment(_Wire):
    """Media or a shared location/contact. Media bytes stay at WhatsApp: download them by
    `mediaId` through the channel's media endpoint (ids live about 30 days at Meta)."""

    type: AttachmentType
    media_id: str | None = Field(default=None, max_length=200, description="WhatsApp media id")
    mime_type: str | None = Field(default=None, max_length=200)
    filename: str | None = Field(default=None, max_length=500)
    sha256: str | None = Field(default=None, max_length=200)
    caption: str | None = Field(default=None, max_length=4096)
    location: WhatsAppLocation | None = None
    contacts: list[WhatsAppContactCard] | None = Field(default=None, max_length=50)


class WhatsAppInbound(_Wire):
    """A customer's WhatsApp message. Fields the pipeline adds later are ignored, not
    refused; a naive `timestamp` is taken as UTC. A message without text (an image with
    no caption, a location) carries a short readable `text` such as `[image]`."""

    message_id: str = Field(min_length=1, max_length=200, description="WhatsApp message id")
    sender: PhoneNumber = Field(alias="from", description="The verified sender, E.164")
    name: str | None = Field(default=None, max_length=120, description="WhatsApp profile name")
    text: str = Field(min_length=1, max_length=65_536)
    timestamp: datetime
    conversation_id: str | None = Field(default=None, max_length=64)
    attachments: list[WhatsAppAttachment] = Field(default_factory=list, max_length=50)

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)


class WhatsAppTemplate(_Wire):
    """An approved WhatsApp message template: the only kind of message WhatsApp accepts
    outside the 24-hour customer-service window. `parameters` fill the body's {{1}}, {{2}}."""

    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=15, examples=["es", "en_US"])
    parameters: list[str] = Field(default_factory=list, max_length=20)


class WhatsAppOutbound(BaseModel):
    """A reply to the customer (persistent). `messageId` identifies it: it is sent at most
    once, and delivery reports refer to it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    to: PhoneNumber
    text: str = Field(min_length=1, max_length=65_536)
    reply_to: str | None = Field(default=None, description="The inbound messageId answered")
    ticket_id: str | None = Field(default=None, max_length=64)
    message_id: str | None = Field(
        default=None, max_length=200, description="The outbound message's id (dedup key)"
    )
    template: WhatsAppTemplate | None = Field(
        default=None, description="Send this approved template instead of free-form text"
    )
    purpose: Literal["reply", "csat", "nudge"] | None = Field(
        default=None,
        description="What the message is for: outside the 24-hour window the channel picks "
        "the template configured for it (a reply's otherwise)",
    )
    attachments: list[OutgoingAttachment] | None = Field(
        default=None, description="Files an agent sent with the text (http(s) URLs)"
    )
