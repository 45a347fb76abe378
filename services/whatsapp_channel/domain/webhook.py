"""Meta's webhook payload -> the pipeline's messages and delivery reports.

Shape (object `whatsapp_business_account`): `entry[].changes[]` with `field: "messages"`
and a `value` holding `metadata.phone_number_id`, `contacts[]` (profile names by `wa_id`),
`messages[]` (customer messages) and `statuses[]` (sent, delivered, read, failed reports
on what we sent). Every message of every entry and change is taken; one that cannot be
read (no id, no sender) is reported in `skipped` and the others still go through.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

from contracts.whatsapp import (
    WhatsAppAttachment,
    WhatsAppContactCard,
    WhatsAppInbound,
    WhatsAppLocation,
)

MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")
DELIVERY_STATUSES = ("sent", "delivered", "read", "failed")
DeliveryStatus = Literal["sent", "delivered", "read", "failed"]


@dataclass(frozen=True, slots=True)
class DeliveryError:
    code: int | None
    title: str
    detail: str | None = None

    def to_wire(self) -> dict[str, object]:
        return {"code": self.code, "title": self.title, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class StatusReport:
    """WhatsApp's news about a message we sent."""

    whatsapp_message_id: str
    status: DeliveryStatus
    at: datetime
    recipient: str | None = None
    callback_data: str | None = None
    """`biz_opaque_callback_data`: our outbound message id, echoed back by WhatsApp."""
    errors: tuple[DeliveryError, ...] = ()


@dataclass
class ParsedWebhook:
    messages: list[WhatsAppInbound] = field(default_factory=list)
    statuses: list[StatusReport] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Why each unreadable or foreign item was left out (for the log)."""


def parse_webhook(payload: Any, phone_number_id: str) -> ParsedWebhook:
    """Items for another phone number of the same business account are skipped: replies
    would leave from the wrong number."""
    parsed = ParsedWebhook()
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        parsed.skipped.append("not a whatsapp_business_account notification")
        return parsed
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if change.get("field") != "messages" or not isinstance(value, dict):
                parsed.skipped.append(f"change field {change.get('field')!r} not handled")
                continue
            number = _dict(value.get("metadata")).get("phone_number_id")
            if str(number) != phone_number_id:
                parsed.skipped.append(f"for phone number id {number!r}, not ours")
                continue
            _read_value(value, parsed)
    return parsed


def _read_value(value: dict[str, Any], parsed: ParsedWebhook) -> None:
    names = _profile_names(value.get("contacts"))
    for raw in _dicts(value.get("messages")):
        try:
            parsed.messages.append(inbound_message(raw, names))
        except (ValidationError, ValueError, TypeError) as error:
            parsed.skipped.append(f"message {raw.get('id')!r} unreadable: {_short(error)}")
    for raw in _dicts(value.get("statuses")):
        try:
            parsed.statuses.append(status_report(raw))
        except (ValueError, TypeError) as error:
            parsed.skipped.append(f"status {raw.get('id')!r} unreadable: {_short(error)}")


def inbound_message(raw: dict[str, Any], names: dict[str, str]) -> WhatsAppInbound:
    """Raises ValidationError, ValueError or TypeError for a message we cannot read."""
    sender = str(raw.get("from") or "")
    kind = str(raw.get("type") or "unknown")
    text, attachments = _content(kind, raw)
    name = names.get(sender)
    return WhatsAppInbound.model_validate(
        {
            "messageId": raw.get("id"),
            "from": sender if sender.startswith("+") else f"+{sender}",
            "name": name[:120] if name else None,
            "text": text.strip() or f"[{kind}]",
            "timestamp": _unix(raw.get("timestamp")),
            "attachments": attachments,
        }
    )


def _content(kind: str, raw: dict[str, Any]) -> tuple[str, list[WhatsAppAttachment]]:
    body = _dict(raw.get(kind))
    if kind == "text":
        return str(body.get("body") or ""), []
    if kind in MEDIA_TYPES:
        return _media(kind, body)
    if kind == "location":
        return _location(body)
    if kind == "contacts":
        return _contacts(raw.get("contacts"))
    return _other(kind, raw), []


def _media(kind: str, body: dict[str, Any]) -> tuple[str, list[WhatsAppAttachment]]:
    attachment = WhatsAppAttachment(
        type=kind,  # type: ignore[arg-type]  # one of MEDIA_TYPES
        media_id=_text(body.get("id")),
        mime_type=_text(body.get("mime_type")),
        filename=_text(body.get("filename")),
        sha256=_text(body.get("sha256")),
        caption=_text(body.get("caption"), 4096),
    )
    label = f"[{kind}: {attachment.filename}]" if attachment.filename else f"[{kind}]"
    return attachment.caption or label, [attachment]


def _location(body: dict[str, Any]) -> tuple[str, list[WhatsAppAttachment]]:
    place = WhatsAppLocation(
        latitude=float(body["latitude"]),
        longitude=float(body["longitude"]),
        name=_text(body.get("name"), 1000),
        address=_text(body.get("address"), 1000),
    )
    where = ", ".join(part for part in (place.name, place.address) if part)
    coordinates = f"{place.latitude}, {place.longitude}"
    text = f"[location: {where} ({coordinates})]" if where else f"[location: {coordinates}]"
    return text, [WhatsAppAttachment(type="location", location=place)]


def _contacts(raw: object) -> tuple[str, list[WhatsAppAttachment]]:
    cards = [
        WhatsAppContactCard(
            name=str(_dict(card.get("name")).get("formatted_name") or "")[:500],
            phones=[str(p.get("phone") or p.get("wa_id")) for p in _dicts(card.get("phones"))][:20],
        )
        for card in _dicts(raw)[:50]
    ]
    names = ", ".join(card.name for card in cards if card.name)
    return f"[contacts: {names}]" if names else "[contacts]", [
        WhatsAppAttachment(type="contacts", contacts=cards)
    ]


def _other(kind: str, raw: dict[str, Any]) -> str:
    """Buttons and list choices carry the customer's words; the rest is described."""
    body = _dict(raw.get(kind))
    if kind == "button":
        return str(body.get("text") or body.get("payload") or "")
    if kind == "interactive":
        choice = _dict(body.get("button_reply")) or _dict(body.get("list_reply"))
        return str(choice.get("title") or "")
    if kind == "reaction":
        emoji = body.get("emoji")
        return f"[reaction {emoji}]" if emoji else "[reaction removed]"
    if kind == "system":
        return f"[system: {body.get('body') or ''}]"
    return f"[{kind} message]"


def status_report(raw: dict[str, Any]) -> StatusReport:
    status = raw.get("status")
    if status not in DELIVERY_STATUSES:
        raise ValueError(f"status {status!r} not handled")
    message_id = raw.get("id")
    if not isinstance(message_id, str) or not message_id:
        raise ValueError("no message id")
    errors = tuple(
        DeliveryError(
            code=error.get("code") if isinstance(error.get("code"), int) else None,
            title=str(error.get("title") or error.get("message") or "error")[:500],
            detail=_text(_dict(error.get("error_data")).get("details")),
        )
        for error in _dicts(raw.get("errors"))
    )
    return StatusReport(
        whatsapp_message_id=message_id,
        status=status,
        at=_unix(raw.get("timestamp")),
        recipient=_text(raw.get("recipient_id")),
        callback_data=_text(raw.get("biz_opaque_callback_data")),
        errors=errors,
    )


def _unix(value: object) -> datetime:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise TypeError("timestamp missing")
    return datetime.fromtimestamp(int(value), UTC)


def _profile_names(contacts: object) -> dict[str, str]:
    names: dict[str, str] = {}
    for contact in _dicts(contacts):
        name = _dict(contact.get("profile")).get("name")
        if isinstance(name, str) and name.strip():
            names[str(contact.get("wa_id"))] = name.strip()
    return names


def _dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object, limit: int = 500) -> str | None:
    return str(value)[:limit] if isinstance(value, str | int) and str(value) else None


def _short(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return str(error.errors(include_input=False, include_url=False))[:300]
    return str(error)[:300]
