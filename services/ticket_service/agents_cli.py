"""`tickets agents create|token|activate|deactivate`: agents, their bearer tokens and their
access from the command line (the JWT secret kept when none is configured is
`infra.auth.with_persistent_jwt_secret`)."""

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial

from aio_pika.exceptions import AMQPError
from pymongo.errors import DuplicateKeyError

from contracts.enums import AgentRole
from infra.auth import issue_token
from infra.clock import SystemClock
from infra.dependencies import database_of
from infra.messaging import make_broker, publish_event
from infra.mongo import init_documents
from infra.settings import Settings
from services.ticket_service.access import SYSTEM
from services.ticket_service.agents import AgentDirectory, AgentEdit, Publish
from services.ticket_service.documents import Agent
from services.ticket_service.domain.errors import DomainError
from services.ticket_service.repository import AgentRepository

BROKER_WAIT_SECONDS = 5
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AgentCommandError(Exception):
    """A refusal the command prints as is (exit status 1)."""


@asynccontextmanager
async def _agents_store(settings: Settings) -> AsyncIterator[None]:
    """The agents collection, through the embedded server when no MONGODB_URL is set."""
    async with database_of(settings) as database:
        await init_documents(database.client, settings.mongodb_database, [Agent])
        yield


async def create_agent(
    settings: Settings, name: str, email: str, role: AgentRole, now: datetime
) -> tuple[Agent, str]:
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise AgentCommandError(f"not an email address: {email!r}")
    if not name.strip():
        raise AgentCommandError("the name must not be empty")
    async with _agents_store(settings):
        agent = Agent(name=name.strip(), email=email, role=role, created_at=now)
        try:
            await AgentRepository().create(agent)
        except DuplicateKeyError as error:
            raise AgentCommandError(f"an agent with email {email} already exists") from error
    return agent, issue_token(settings, str(agent.id), role, now)


async def token_for(settings: Settings, email: str, now: datetime) -> tuple[Agent, str]:
    async with _agents_store(settings):
        agent = await AgentRepository().by_email(email)
    if agent is None:
        raise AgentCommandError(f"no agent with email {email}")
    if not agent.is_active:
        raise AgentCommandError(f"agent {email} is inactive")
    return agent, issue_token(settings, str(agent.id), agent.role, now)


@asynccontextmanager
async def _event_publisher(settings: Settings) -> AsyncIterator[Publish | None]:
    """The events exchange, or None when RabbitMQ does not answer within a few seconds."""
    broker = make_broker(settings.rabbitmq_url)
    try:
        async with asyncio.timeout(BROKER_WAIT_SECONDS):
            await broker.connect()
    except (TimeoutError, OSError, AMQPError):  # the change stands; only the news is late
        connected = False
    else:
        connected = True
    try:
        yield partial(publish_event, broker) if connected else None
    finally:
        if connected:
            await broker.stop()


async def set_active(settings: Settings, email: str, *, active: bool) -> tuple[Agent, bool]:
    """`tickets agents activate|deactivate`: the same rule as `PATCH /agents/{id}` (the
    last active admin stays). Returns the agent and whether the notifier was told."""
    async with _agents_store(settings), _event_publisher(settings) as publish:
        agents = AgentRepository()
        agent = await agents.by_email(email)
        if agent is None:
            raise AgentCommandError(f"no agent with email {email}")
        directory = AgentDirectory(agents, publish, SystemClock())
        try:
            changed = await directory.change(SYSTEM, str(agent.id), AgentEdit(is_active=active))
        except DomainError as error:
            raise AgentCommandError(error.message) from error
    return changed, publish is not None


def access_command(settings: Settings, email: str, *, active: bool) -> int:
    try:
        agent, told = asyncio.run(set_active(settings, email, active=active))
    except AgentCommandError as error:
        print(f"tickets: {error}", file=sys.stderr)  # noqa: T201
        return 1
    state = "active" if agent.is_active else "deactivated"
    print(f"agent {agent.id} {agent.email} ({agent.role}) {state}", file=sys.stderr)  # noqa: T201
    if not told and not active:
        print(  # noqa: T201
            "tickets: RabbitMQ did not answer: the agent's tokens are refused already, open "
            "Socket.IO sessions end at the notifier's next check "
            "(TICKETS_NOTIFIER__SESSION_CHECK_SECONDS)",
            file=sys.stderr,
        )
    return 0
