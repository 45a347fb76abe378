"""The ticket service's request limiter, over the shared sliding-window limiter
(`infra.ratelimit`). The limits on opening tickets are kept with each customer
(`admission.py`)."""

from typing import Any

from pymongo import AsyncMongoClient

from infra.ratelimit import COLLECTION, RateLimiter
from infra.settings import Settings
from services.ticket_service.domain.lifecycle import OPEN_STATUSES

__all__ = [  # RateLimiter too: routers built before it moved to infra import it from here
    "OPEN_STATUSES",
    "RateLimiter",
    "rate_limiting",
]


def rate_limiting(mongo: AsyncMongoClient[dict[str, Any]], settings: Settings) -> RateLimiter:
    """The shared limiter (per-token request budgets)."""
    return RateLimiter(mongo[settings.mongodb_database][COLLECTION])
