"""MongoDB connection, Beanie start-up and the embedded server the defaults use."""

import asyncio
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from beanie import Document, init_beanie
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from infra.embedded_mongo import MECHANISM, PASSWORD_VARIABLE, USER
from infra.startup import StartupError

log = logging.getLogger(__name__)

MongoClient = AsyncMongoClient[dict[str, Any]]

DUPLICATE_KEY = 11000


async def insert_new(
    collection: AsyncCollection[dict[str, Any]], documents: list[dict[str, Any]]
) -> int:
    """Inserts the documents whose unique keys are not taken yet (a redelivery, another
    replica that got there first); returns how many were new. Other errors raise."""
    if not documents:
        return 0
    try:
        result = await collection.insert_many(documents, ordered=False)
    except BulkWriteError as error:
        errors = error.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return len(documents) - len(errors)
    return len(result.inserted_ids)


async def insert_keyed(
    collection: AsyncCollection[dict[str, Any]], key: dict[str, Any], document: dict[str, Any]
) -> None:
    """insert_one for a document found by `key`: raises DuplicateKeyError when a document
    matching `key` exists, or when the new one collides on a unique index, as insert_one
    would. `key` holds equalities, one of them on a field with its own single-field index
    (an `_id` in it becomes the new document's `_id`); the document gets the key's fields.

    One upsert that only sets fields on insert. The embedded wire server (mongoeco) checks
    the `_id` of a document given to insert_one against every stored document, so each
    insert costs more as the collection grows (about 10 ms of its CPU at 1,000 documents
    on its memory engine, 45 ms on SQLite); an upsert finds the key through its index and
    stores the new document without that walk. On MongoDB both are index lookups."""
    fields = {name: value for name, value in document.items() if name not in key}
    result = await collection.update_one(key, {"$setOnInsert": fields}, upsert=True)
    if result.upserted_id is None:
        raise DuplicateKeyError(f"{collection.name}: {key} exists", code=DUPLICATE_KEY)


def connect(url: str) -> MongoClient:
    return AsyncMongoClient(url, tz_aware=True, uuidRepresentation="standard")


async def init_documents(
    client: MongoClient, database: str, models: Sequence[type[Document]]
) -> None:
    await init_beanie(database=client[database], document_models=list(models))


class EmbeddedMongo:
    """A mongoeco wire server in a child process this object owns and stops."""

    def __init__(self, sqlite_path: Path | None = None, host: str = "127.0.0.1") -> None:
        self._sqlite_path = sqlite_path
        self._host = host
        self._process: asyncio.subprocess.Process | None = None
        self._password = secrets.token_urlsafe(32)
        """Made for this start, handed to the child in its environment, never stored."""
        self.uri = ""

    async def start(self, timeout: float = 300.0) -> str:
        """Starts the server and waits for its READY line. A server that fails says so (or
        exits) at once; the long wait is for a large SQLite file, which the server reads
        before it answers (about 32 s at 100,000 tickets, docs/operations.md)."""
        args = ["-m", "infra.embedded_mongo", "--host", self._host]
        if self._sqlite_path is not None:
            args += ["--sqlite", str(self._sqlite_path)]
        # Its own session: a Ctrl-C in the terminal reaches only us, and we stop it last,
        # after the services are done with it.
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
            env={**os.environ, PASSWORD_VARIABLE: self._password},
        )
        assert self._process.stdout is not None
        try:
            line = await asyncio.wait_for(self._process.stdout.readline(), timeout)
        except TimeoutError:
            line = f"no answer within {timeout:g} s".encode()
        if not line.startswith(b"READY "):
            await self.stop()
            reason = line.decode(errors="replace").strip().removeprefix("FAILED ") or "it exited"
            if "No module named 'mongoeco'" in reason:
                reason = "mongoeco is not installed here (requirements/embedded.txt)"
            raise StartupError(
                f"the embedded MongoDB server did not start: {reason}; check TICKETS_DATA_DIR "
                "or set MONGODB_URL"
            )
        plain = line.decode().split(" ", 1)[1].strip()
        self.uri = _with_credentials(plain, self._password)
        log.info("embedded mongo started", extra={"uri": plain, "sqlite": str(self._sqlite_path)})
        return self.uri

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


def _with_credentials(uri: str, password: str) -> str:
    """`mongodb://host:port/?directConnection=true` with the embedded server's user."""
    scheme, rest = uri.split("://", 1)
    where, _, options = rest.partition("?")
    extra = f"authSource=admin&authMechanism={MECHANISM}"
    query = f"{options}&{extra}" if options else extra
    return f"{scheme}://{USER}:{quote(password, safe='')}@{where}?{query}"
