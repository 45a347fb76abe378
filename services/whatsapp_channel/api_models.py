"""The answers of the channel's routes, for the OpenAPI document."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from contracts.base import WireModel
from services.whatsapp_channel.documents import SendRecord


class Receipt(WireModel):
    messages: int = Field(description="Customer messages in the notification")
    new: int = Field(description="Of those, not seen before")
    published: int = Field(description="Published to `whatsapp.inbound` now")
    statuses: int = Field(description="Delivery reports")
    skipped: int = Field(description="Entries not for this phone number, or not understood")


class ReceiptEnvelope(WireModel):
    success: Literal[True]
    data: Receipt


class SendView(SendRecord):
    """One outbound message: state, attempts, last error, WhatsApp's delivery report."""

    id: str = Field(alias="id")


class SendEnvelope(WireModel):
    success: Literal[True]
    data: SendView


class Window(WireModel):
    phone: str
    open: bool = Field(description="Free-form messages reach the customer now")
    last_inbound_at: datetime | None
    closes_at: datetime | None = Field(description="Null: the customer never wrote")


class WindowEnvelope(WireModel):
    success: Literal[True]
    data: Window
