"""Service API keys (`X-API-Key`): named, scoped, and revocable one at a time.

Two sources:

- keys made with `tickets keys create --name crm --scope tickets`, kept in the `api_keys`
  collection as a SHA-256 of the key (the key itself is printed once and never stored);
  `tickets keys revoke crm` refuses it on the next request, on every replica;
- the `TICKETS_API_KEYS` list (comma-separated), kept for existing deployments: each
  key there has every scope and is named `env-<first 8 hex digits of its SHA-256>`;
  removing it from the list and restarting revokes it alone.

A key is high-entropy (generated ones are 43 URL-safe characters; configured ones must be
at least 32 bytes), so a plain SHA-256 is a safe lookup handle.
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from infra.settings import Settings

COLLECTION = "api_keys"
KEY_PREFIX = "tk_"
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,47}$")


class Scope(StrEnum):
    """What a service key may call."""

    TICKETS = "tickets"
    """The REST API under `/api/v2` as the System (every ticket)."""
    ASSISTANT = "assistant"
    """`POST /api/v2/assistant/tool-calls`: tool calls for any verified customer."""


ALL_SCOPES = frozenset(Scope)


class KeyCommandError(Exception):
    """A refusal `tickets keys ...` prints as is."""


@dataclass(frozen=True, slots=True)
class ServiceKey:
    name: str
    scopes: frozenset[Scope]


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def env_keys(settings: Settings) -> dict[str, ServiceKey]:
    """`TICKETS_API_KEYS`: digest -> key with every scope."""
    return {
        digest(key): ServiceKey(f"env-{digest(key)[:8]}", ALL_SCOPES)
        for key in settings.api_key_set
    }


class ApiKeys:
    """Finds the key a request presents, in the configuration or the store."""

    def __init__(self, settings: Settings, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._configured = env_keys(settings)
        self._stored: AsyncCollection[dict[str, Any]] = database[COLLECTION]

    async def find(self, presented: str) -> ServiceKey | None:
        given = digest(presented)
        for known, key in self._configured.items():
            if hmac.compare_digest(given, known):
                return key
        record = await self._stored.find_one({"digest": given, "revokedAt": None})
        if record is None:
            return None
        return ServiceKey(record["_id"], frozenset(Scope(s) for s in record.get("scopes", [])))


class KeyStore:
    """What `tickets keys` does: create, list, revoke."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._keys: AsyncCollection[dict[str, Any]] = database[COLLECTION]

    async def create(self, name: str, scopes: set[Scope], now: datetime) -> str:
        """Returns the new key (shown once)."""
        if not NAME.fullmatch(name):
            raise KeyCommandError(
                f"invalid key name {name!r}: 1-48 of a-z 0-9 . _ -, starting with a letter or digit"
            )
        if not scopes:
            raise KeyCommandError("a key needs at least one --scope")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        await self._keys.create_index("digest", unique=True)
        record = {
            "_id": name,
            "digest": digest(key),
            "scopes": sorted(scopes),
            "createdAt": now,
            "revokedAt": None,
        }
        try:
            await self._keys.insert_one(record)
        except DuplicateKeyError as error:
            raise KeyCommandError(f"a key named {name} already exists") from error
        return key

    async def revoke(self, name: str, now: datetime) -> None:
        result = await self._keys.update_one(
            {"_id": name, "revokedAt": None}, {"$set": {"revokedAt": now}}
        )
        if result.modified_count != 1:
            raise KeyCommandError(f"no active key named {name}")

    async def listing(self) -> list[dict[str, Any]]:
        cursor = self._keys.find({}, {"digest": 0}).sort("_id", 1)
        return [record async for record in cursor]
