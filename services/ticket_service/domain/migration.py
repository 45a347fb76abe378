"""Conversations of an existing CRM turned into ticket creations (the customer's plan's
migration): one pure mapping per record, so a bad record is a reason, never a crash."""

import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from contracts.actors import SystemActor
from contracts.commands import CreateTicket, CustomerByPhone
from contracts.enums import Category, Channel, Priority, Source

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
TITLE_LIMIT = 200
DESCRIPTION_LIMIT = 5000
DESCRIPTION_MINIMUM = 10
FALLBACK_DESCRIPTION = "Migrated from conversation"


class BadRecord(Exception):
    """The conversation cannot become a ticket; the message says why."""


@dataclass(frozen=True)
class Planned:
    conversation_id: str
    command: CreateTicket


def plan(conversation: Any, customer: Any) -> Planned:
    """The `tickets.v1.create` command for `conversation`, whose customer record is
    `customer` (or None); raises BadRecord."""
    if not isinstance(conversation, dict) or conversation.get("_id") is None:
        raise BadRecord("no _id")
    conversation_id = str(conversation["_id"])
    phone, name = _contact(conversation, customer)
    category = _choice(conversation.get("category"), Category, Category.OTHER, "category")
    priority = _choice(conversation.get("priority"), Priority, Priority.MEDIUM, "priority")
    try:
        command = CreateTicket(
            actor=SystemActor(),
            title=f"Migrated: {category.value}"[:TITLE_LIMIT],
            description=_description(conversation.get("lastMessage")),
            category=category,
            priority=priority,
            source=Source.SYSTEM,
            channel=Channel.WHATSAPP,
            customer=CustomerByPhone(phone=phone, name=name[:100] if name else None),
            conversation_id=conversation_id,
            idempotency_key=f"migrate:{conversation_id}",
        )
    except ValidationError as error:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in error.errors())
        raise BadRecord(f"not a ticket the contract accepts ({fields})") from None
    return Planned(conversation_id, command)


def _contact(conversation: dict[str, Any], customer: Any) -> tuple[str, str | None]:
    sources = [conversation.get("customer"), customer, conversation]
    for source in sources:
        if not isinstance(source, dict):
            continue
        for key in ("phone", "phoneNumber", "customerPhone", "whatsapp"):
            value = source.get(key)
            if isinstance(value, str) and value.strip():
                phone = value.strip().replace(" ", "")
                if not E164.fullmatch(phone):
                    raise BadRecord(f"customer phone {phone[:30]!r} is not E.164")
                name = source.get("name")
                return phone, name.strip() if isinstance(name, str) and name.strip() else None
    raise BadRecord("no customer phone (conversation.customer, the customer record)")


def _choice[E: (Category, Priority)](value: Any, kind: type[E], default: E, what: str) -> E:
    if value is None or value == "":
        return default
    try:
        return kind(value)
    except ValueError:
        raise BadRecord(f"{what} {str(value)[:30]!r} is not one of ours") from None


def _description(last_message: Any) -> str:
    content = last_message.get("content") if isinstance(last_message, dict) else None
    if content is not None and not isinstance(content, str):
        raise BadRecord("lastMessage.content is not text")
    text = (content or "").strip()
    if len(text) < DESCRIPTION_MINIMUM:
        text = f"{FALLBACK_DESCRIPTION}: {text}" if text else FALLBACK_DESCRIPTION
    return text[:DESCRIPTION_LIMIT]
