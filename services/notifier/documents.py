"""What the notifier stores: webhook endpoints and one document per delivery.

Collections `webhooks` and `webhook_deliveries` (camelCase fields, string ids). A delivery
is unique per (eventId, webhookId), so however many notifier instances see an event, an
endpoint gets one delivery for it.
"""

import secrets
import uuid
from datetime import datetime
from typing import Any

from pydantic import Field
from pymongo import ASCENDING, IndexModel

from contracts.base import StoredModel
from services.notifier.domain.webhooks import DeliveryStatus

WEBHOOKS = "webhooks"
DELIVERIES = "webhook_deliveries"

WEBHOOK_INDEXES = [IndexModel([("active", ASCENDING)])]
DELIVERY_INDEXES = [
    IndexModel([("eventId", ASCENDING), ("webhookId", ASCENDING)], unique=True, name="once"),
    IndexModel([("status", ASCENDING), ("nextAttemptAt", ASCENDING)], name="due"),
    IndexModel([("webhookId", ASCENDING), ("createdAt", ASCENDING)], name="by_webhook"),
]


def new_webhook_id() -> str:
    return f"wh_{uuid.uuid4().hex}"


def new_delivery_id() -> str:
    return f"dl_{uuid.uuid4().hex}"


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


class Webhook(StoredModel):
    id: str = Field(alias="_id")
    url: str
    events: list[str]
    secret: str
    previous_secret: str | None = None
    """The secret before the last rotation, still signing until `previous_secret_until`."""
    previous_secret_until: datetime | None = None
    active: bool = True
    description: str | None = None
    created_by: str
    created_at: datetime
    updated_at: datetime

    def stored(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)

    def signing_secrets(self, now: datetime) -> list[str]:
        """The current secret, then the previous one while its overlap lasts."""
        overlapping = self.previous_secret_until is not None and now < self.previous_secret_until
        return [
            self.secret,
            *([self.previous_secret] if overlapping and self.previous_secret else []),
        ]

    def view(self, *, with_secret: bool = False) -> dict[str, object]:
        """The API shape: `id` instead of `_id`; the secret only when just created or
        rotated, the previous one never."""
        hidden = {"id", "secret", "previous_secret"}
        shown = self.model_dump(mode="json", by_alias=True, exclude=hidden)
        return {"id": self.id, **shown, **({"secret": self.secret} if with_secret else {})}


class Delivery(StoredModel):
    id: str = Field(alias="_id")
    webhook_id: str
    event_id: str
    event_type: str
    payload: dict[str, Any] = Field(description="The event as published (camelCase)")
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime
    created_at: datetime
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None

    def stored(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)

    def view(self) -> dict[str, object]:
        shown = self.model_dump(mode="json", by_alias=True, exclude={"id"})
        return {"id": self.id, **shown}
