"""A customer's conversation budget, counted in MongoDB so it holds across messages,
restarts and gateway replicas: the sliding-window limiter of `infra.ratelimit`, one key per
customer and kind (`assistant:<phone>:<kind>`), over `window` (a conversation: the
customer's messages within a day, by default)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from infra.ratelimit import RateLimiter
from services.assistant_gateway.domain.budget import (
    CONVERSATION_SPENT,
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
        for kind in kinds_of(tool):
            limit, key = self.limits.of(kind), f"assistant:{phone}:{kind}"
            if limit == 0 or await self.limiter.hit(key, limit, self.window, now) is not None:
                return CONVERSATION_SPENT[kind]
        return None
