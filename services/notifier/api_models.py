"""Bodies of the webhook admin API: every URL checked in full, secrets of 32 bytes or more."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator

from contracts.base import WireModel
from contracts.replies import Pagination
from services.notifier.domain.webhooks import DeliveryStatus, valid_filter
from services.notifier.targets import parse_target

MIN_SECRET_BYTES = 32
DAY_SECONDS = 86_400


def _strong(secret: str) -> str:
    if len(secret.encode("utf-8", "surrogateescape")) < MIN_SECRET_BYTES:
        raise ValueError(f"secret must be at least {MIN_SECRET_BYTES} bytes (or omit it)")
    return secret


Secret = Annotated[str, Field(max_length=200), AfterValidator(_strong)]


def _check_url(url: str) -> str:
    parse_target(url)
    return url.strip()


def _check_events(events: list[str]) -> list[str]:
    unknown = [pattern for pattern in events if not valid_filter(pattern)]
    if unknown:
        raise ValueError(f"unknown event filters: {', '.join(unknown)}")
    return list(dict.fromkeys(events))


class WebhookCreate(WireModel):
    url: str = Field(max_length=2000, examples=["https://crm.example.com/hooks/tickets"])
    events: list[str] = Field(
        min_length=1,
        max_length=50,
        examples=[["ticket.created", "sla.*"]],
        description="Event types, `*`, or prefix wildcards such as `ticket.*`",
    )
    description: str | None = Field(default=None, max_length=500)
    secret: Secret | None = Field(
        default=None,
        description="HMAC key, 32 to 200 bytes; generated when omitted (returned once, on "
        "creation)",
    )
    active: bool = True

    _url = field_validator("url")(_check_url)
    _events = field_validator("events")(_check_events)


class WebhookUpdate(WireModel):
    url: str | None = Field(default=None, max_length=2000)
    events: list[str] | None = Field(default=None, min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=500)
    active: bool | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        return None if url is None else _check_url(url)

    @field_validator("events")
    @classmethod
    def _events(cls, events: list[str] | None) -> list[str] | None:
        return None if events is None else _check_events(events)


class SecretRotation(WireModel):
    """A new signing secret; the old one keeps signing, beside it, for the overlap."""

    secret: Secret | None = Field(
        default=None, description="The new HMAC key (32-200 bytes); generated when omitted"
    )
    overlap_seconds: int = Field(
        default=DAY_SECONDS,
        ge=0,
        le=30 * DAY_SECONDS,
        description="How long deliveries also carry a signature with the old secret",
    )


class WebhookView(WireModel):
    """A registered endpoint as the API shows it (never the previous secret)."""

    id: str
    url: str
    events: list[str]
    active: bool
    description: str | None
    previous_secret_until: datetime | None = Field(
        description="Until when deliveries are also signed with the secret before the rotation"
    )
    created_by: str
    created_at: datetime
    updated_at: datetime
    secret: str | None = Field(
        default=None, description="Only in the answer that created or rotated it"
    )


class DeliveryView(WireModel):
    """One event for one endpoint: `pending` -> `delivered`, or `retrying` -> `dead`."""

    id: str
    webhook_id: str
    event_id: str
    event_type: str
    payload: dict[str, Any] = Field(description="The event as published (camelCase)")
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None


class Deleted(WireModel):
    id: str
    deleted: Literal[True]


class WebhookEnvelope(WireModel):
    success: Literal[True]
    data: WebhookView


class WebhookListEnvelope(WireModel):
    success: Literal[True]
    data: list[WebhookView]
    count: int


class DeliveryEnvelope(WireModel):
    success: Literal[True]
    data: DeliveryView


class DeliveryListEnvelope(WireModel):
    success: Literal[True]
    data: list[DeliveryView]
    count: int
    pagination: Pagination


class DeletedEnvelope(WireModel):
    success: Literal[True]
    data: Deleted
