"""WhatsApp's customer-service window: a business may send free-form messages for 24 hours
after the customer's last message; outside it only approved templates are delivered.

Shared by the WhatsApp channel (which sends) and the ticket service (which shows the window
on the ticket and may refuse an agent's reply): one rule, pure, time passed in."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import Field

from contracts.base import WireModel

WINDOW = timedelta(hours=24)
MARGIN = timedelta(minutes=1)
"""The window counts as closed this long before the 24 hours: a message sent at 23:59:59
can reach WhatsApp after them."""


@dataclass(frozen=True, slots=True)
class WindowState:
    open: bool
    last_inbound_at: datetime | None
    closes_at: datetime | None
    """When free-form messages stop being accepted (None: the customer never wrote)."""

    def to_wire(self) -> dict[str, object]:
        return {
            "open": self.open,
            "lastInboundAt": _iso(self.last_inbound_at),
            "closesAt": _iso(self.closes_at),
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def window_state(
    last_inbound_at: datetime | None, now: datetime, margin: timedelta = MARGIN
) -> WindowState:
    if last_inbound_at is None:
        return WindowState(open=False, last_inbound_at=None, closes_at=None)
    closes_at = last_inbound_at + WINDOW
    return WindowState(now < closes_at - margin, last_inbound_at, closes_at)


def window_closed_message(window: WindowState) -> str:
    if window.closes_at is None:
        return (
            "The customer has not written on WhatsApp yet, so only an approved template can be sent"
        )
    return (
        f"WhatsApp's 24-hour window closed at {window.closes_at.isoformat()}; a free-form "
        "message cannot be sent until the customer writes again"
    )


class WhatsAppWindow(WireModel):
    """A customer's WhatsApp window as tickets show it."""

    open: bool = Field(description="A free-form reply reaches the customer now")
    last_inbound_at: datetime | None = Field(description="The customer's latest message")
    closes_at: datetime | None = Field(
        description="When free-form replies stop reaching them (null: they never wrote)"
    )
