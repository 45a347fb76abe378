"""MongoDB and RabbitMQ at start-up: each answers within the start-up timeout, or the
process stops with one line saying which one, where, and why (no traceback)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from aiormq.exceptions import AMQPConnectionError, AMQPError, ProbableAuthenticationError
from faststream.rabbit import RabbitBroker
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConfigurationError, OperationFailure, PyMongoError

from infra.mongo import EmbeddedMongo, MongoClient, connect
from infra.settings import Settings
from infra.startup import StartupError

_MONGO_HINT = "check MONGODB_URL (unset it to use the embedded server)"
_RABBIT_HINT = "check RABBITMQ_URL"


def without_password(url: str) -> str:
    """The URL as it may be printed: user and host, never the password."""
    scheme, separator, rest = url.partition("://")
    if not separator or "@" not in rest.split("/", 1)[0]:
        return url
    credentials, host = rest.split("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"


async def open_mongo(url: str, timeout: float) -> MongoClient:
    """A client for `url` once the server answered a ping within `timeout` seconds."""
    await _ping_mongo(url, timeout)
    return connect(url)


async def _ping_mongo(url: str, timeout: float) -> None:
    """A throwaway client with a short server selection, so the real one keeps PyMongo's
    patient defaults for outages after start-up."""
    where = without_password(url)
    try:
        probe: MongoClient = AsyncMongoClient(
            url, serverSelectionTimeoutMS=int(timeout * 1000), connectTimeoutMS=int(timeout * 1000)
        )
    except (ConfigurationError, ValueError, TypeError) as error:
        raise StartupError(f"MONGODB_URL is not a MongoDB connection string: {error}") from None
    try:
        await probe.admin.command("ping")
    except OperationFailure as error:
        raise StartupError(
            f"MongoDB at {where} refused the connection: {error}; {_MONGO_HINT}"
        ) from None
    except PyMongoError as error:
        raise StartupError(
            f"MongoDB at {where} did not answer within {timeout:g} s ({_reason(error)}); "
            f"{_MONGO_HINT}"
        ) from None
    finally:
        await probe.close()


def _reason(error: PyMongoError) -> str:
    """PyMongo's first clause, without its timeouts and topology description."""
    text = str(error)
    for cut in (" (configured timeouts", ", Timeout:"):
        text = text.split(cut, 1)[0]
    return text.strip()


async def start_broker(broker: RabbitBroker, url: str, timeout: float) -> None:
    """`broker.start()` (connect, declare, consume) within `timeout` seconds."""
    where = without_password(url)
    try:
        await asyncio.wait_for(broker.start(), timeout)
    except TimeoutError:
        raise StartupError(
            f"RabbitMQ at {where} did not answer within {timeout:g} s; {_RABBIT_HINT}"
        ) from None
    except ProbableAuthenticationError:
        user = unquote(urlsplit(url).username or "guest")
        raise StartupError(
            f"RabbitMQ at {where} refused user {user!r} (wrong user name or password); "
            f"{_RABBIT_HINT}"
        ) from None
    except AMQPError as error:
        raise StartupError(_amqp_line(error, url)) from None
    except (OSError, ValueError) as error:
        raise StartupError(
            f"RabbitMQ at {where} cannot be reached: {error}; {_RABBIT_HINT}"
        ) from None


def _amqp_line(error: AMQPError, url: str) -> str:
    where = without_password(url)
    text = str(error.args[-1]) if error.args else type(error).__name__
    if "Connection.Close" in text:
        parts = urlsplit(url)
        vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        user = unquote(parts.username or "guest")
        return (
            f"RabbitMQ at {where} refused to open virtual host {vhost!r} for user {user!r}: "
            f"it does not exist or the user has no permission on it "
            f"(rabbitmqctl add_vhost / set_permissions); {_RABBIT_HINT}"
        )
    if isinstance(error, AMQPConnectionError):
        return f"RabbitMQ at {where} cannot be reached: {text}; {_RABBIT_HINT}"
    return f"RabbitMQ at {where} refused the set-up: {text}; {_RABBIT_HINT}"


@asynccontextmanager
async def database_of(settings: Settings) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """The configured database, through the embedded server when no MONGODB_URL is set
    (for the commands run beside `tickets up`); a StartupError when it does not answer."""
    embedded = None
    url = settings.mongodb_url
    if url is None:
        embedded = EmbeddedMongo(settings.data_dir / "mongo.sqlite")
        url = await embedded.start()
    try:
        client = await open_mongo(url, settings.startup_timeout_seconds)
    except BaseException:
        if embedded is not None:
            await embedded.stop()
        raise
    try:
        yield client[settings.mongodb_database]
    finally:
        await client.close()
        if embedded is not None:
            await embedded.stop()
