"""A customer's conversation budget, counted in MongoDB so it holds across messages,
restarts and gateway replicas: the sliding-window logs of `infra.ratelimit`, one document
per customer (`assistant:<phone>`) with one log per kind, over `window` (a conversation:
the customer's messages within a day, by default). A call is checked and charged on every
kind it counts against in one conditional update: all or none, one database command."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from infra.ratelimit import RateLimiter
from services.assistant_gateway.domain.budget import (
    CONVERSATION_SPENT,
    Kind,
    Limits,
    Spent,
    kinds_of,
)


@dataclass(frozen=True, slots=True)
class ConversationBudget:
    limiter: RateLimiter
    limits: Limits
    window: timedelta

    async def charge(self, phone: str, tool: str, now: datetime) -> Spent | None:
        kinds = kinds_of(tool)
        for kind in kinds:
            if self.limits.of(kind) == 0:
                return CONVERSATION_SPENT[kind]
        logs = {str(kind): self.limits.of(kind) for kind in kinds}
        refused = await self.limiter.take(f"assistant:{phone}", logs, self.window, now)
        return None if refused is None else CONVERSATION_SPENT[Kind(refused[0])]
