"""The webhook's durable side: inbound messages until they are published, the customers'
last inbound times, and the media ids that came in."""

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from contracts.whatsapp import WhatsAppInbound
from infra.mongo import insert_new
from services.whatsapp_channel.documents import (
    CONTACTS,
    INBOX,
    INDEXES,
    MEDIA,
    InboxRecord,
)


class InboxStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.inbox = database[INBOX]
        self.contacts = database[CONTACTS]
        self.media = database[MEDIA]

    async def ensure_indexes(self) -> None:
        await self.inbox.create_indexes(INDEXES[INBOX])

    async def record(self, messages: list[WhatsAppInbound], now: datetime) -> int:
        """Every message not seen before becomes `pending`; returns how many were new."""
        documents = [
            InboxRecord(
                id=message.message_id,
                message=message.model_dump(mode="json", by_alias=True, exclude_none=True),
                received_at=now,
                lease_until=now,
            ).stored()
            for message in messages
        ]
        return await insert_new(self.inbox, documents)

    async def seen(self, messages: list[WhatsAppInbound], now: datetime) -> None:
        """Moves each sender's last inbound time forward (never back, never past now)."""
        latest: dict[str, datetime] = {}
        for message in messages:
            at = min(message.timestamp, now)
            latest[message.sender] = max(at, latest.get(message.sender, at))
        for phone, at in latest.items():
            await self.contacts.update_one(
                {"_id": phone}, {"$max": {"lastInboundAt": at}}, upsert=True
            )

    async def last_inbound(self, phone: str) -> datetime | None:
        found = await self.contacts.find_one({"_id": phone})
        at = None if found is None else found.get("lastInboundAt")
        return at if isinstance(at, datetime) else None

    async def record_media(self, messages: list[WhatsAppInbound], now: datetime) -> None:
        documents = [
            {
                "_id": attachment.media_id,
                "type": attachment.type,
                "mimeType": attachment.mime_type,
                "filename": attachment.filename,
                "messageId": message.message_id,
                "from": message.sender,
                "receivedAt": now,
            }
            for message in messages
            for attachment in message.attachments
            if attachment.media_id
        ]
        await insert_new(self.media, documents)

    async def media_record(self, media_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self.media.find_one({"_id": media_id})
        return found
