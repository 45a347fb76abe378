"""The WhatsApp pipeline's messages: `whatsapp.inbound` in, `whatsapp.outbound` out."""

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from contracts.actors import PhoneNumber


class WhatsAppInbound(BaseModel):
    """A customer's WhatsApp message. Fields the pipeline adds later are ignored, not
    refused; a naive `timestamp` is taken as UTC."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    message_id: str = Field(min_length=1, max_length=200, description="WhatsApp message id")
    sender: PhoneNumber = Field(alias="from", description="The verified sender, E.164")
    name: str | None = Field(default=None, max_length=120, description="WhatsApp profile name")
    text: str = Field(min_length=1, max_length=65_536)
    timestamp: datetime
    conversation_id: str | None = Field(default=None, max_length=64)

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)


class WhatsAppOutbound(BaseModel):
    """The assistant's reply to one inbound message (persistent)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    to: PhoneNumber
    text: str
    reply_to: str | None = Field(default=None, description="The inbound messageId answered")
