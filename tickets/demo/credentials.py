"""The demo's own credentials, made the way `tickets keys create` and `tickets agents
create` make them (straight in the database the running system uses): an API key for the
service side and an agent for the desk. The key is revoked when the demo ends."""

import contextlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from contracts.enums import AgentRole
from infra.api_keys import KeyCommandError, KeyStore, Scope
from infra.dependencies import database_of
from infra.settings import Settings
from infra.startup import StartupError
from services.ticket_service import agents_cli
from tickets.demo.progress import StepFailed

AGENT_NAME = "Ana (demo)"


@dataclass(frozen=True, slots=True)
class Credentials:
    key_name: str
    api_key: str
    agent_id: str
    agent_email: str


async def make_credentials(settings: Settings, now: datetime) -> Credentials:
    run = secrets.token_hex(4)
    key_name, email = f"demo-{run}", f"demo-{run}@example.com"
    try:
        async with database_of(settings) as database:
            api_key = await KeyStore(database).create(key_name, {Scope.TICKETS}, now)
        agent, _ = await agents_cli.create_agent(settings, AGENT_NAME, email, AgentRole.AGENT, now)
    except (StartupError, KeyCommandError, agents_cli.AgentCommandError) as error:
        raise StepFailed(str(error)) from None
    return Credentials(key_name, api_key, str(agent.id), email)


async def revoke(settings: Settings, credentials: Credentials, now: datetime) -> None:
    """Best effort: a key left behind is only a named, revocable key (`tickets keys`)."""
    with contextlib.suppress(Exception):
        async with database_of(settings) as database:
            await KeyStore(database).revoke(credentials.key_name, now)
