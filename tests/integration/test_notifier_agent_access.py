"""A deactivated agent's Socket.IO sessions end at once (not at the periodic check), from the
REST API and from `tickets agents deactivate`; a promotion moves the session into `admins`.
Real uvicorn, real RabbitMQ, real python-socketio clients, the real CLI."""

import asyncio
import os
import socket
import sys
from pathlib import Path

import httpx
import pytest

from contracts.enums import AgentRole
from infra.settings import NotifierSettings
from services.notifier.main import Notifier
from services.notifier.sockets import UNAUTHORIZED
from services.ticket_service.main import TicketService
from tests.integration.test_notifier_sockets import SECRET, seen, sync, token
from tests.support.factories import make_agent
from tests.support.notifier_system import (
    Refused,
    breached,
    connect,
    hang_up,
    new_ticket_id,
    publish,
    publisher,
    serving,
)
from tests.support.system import Endpoints, settings_for
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

TICKETS = str(Path(sys.executable).with_name("tickets"))
NO_PERIODIC_CHECK = NotifierSettings(webhook_poll_seconds=3600, session_check_seconds=3600)


async def deactivate(
    endpoints: Endpoints, database: str, email: str, rabbit_url: str, *verb: str
) -> tuple[int, str]:
    env = {
        **os.environ,
        "MONGODB_URL": endpoints.mongo_url,
        "RABBITMQ_URL": rabbit_url,
        "TICKETS_MONGODB_DATABASE": database,
        "TICKETS_JWT_SECRET": SECRET,
        "TICKETS_LOG_LEVEL": "ERROR",
    }
    process = await asyncio.create_subprocess_exec(
        TICKETS,
        "agents",
        *(verb or ("deactivate",)),
        email,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, err.decode()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_deactivation_ends_open_sessions_at_once_and_a_promotion_joins_admins(
    endpoints: Endpoints, database: str
) -> None:
    settings = settings_for(endpoints, database, jwt_secret=SECRET, notifier=NO_PERIODIC_CHECK)
    async with (
        serving(settings, [TicketService(), Notifier()]) as served,
        publisher(endpoints.rabbit_url) as rabbit,
        httpx.AsyncClient(base_url=served.url) as http,
    ):
        ben_id, carl_id = await make_agent("Ben"), await make_agent("Carl")
        root_id = await make_agent("Root", AgentRole.ADMIN)
        as_root = {"Authorization": f"Bearer {token(settings, root_id, AgentRole.ADMIN)}"}
        ben_token = token(settings, ben_id)
        ben = await connect(served.url, ben_token)
        carl = await connect(served.url, token(settings, carl_id))
        root = await connect(served.url, token(settings, root_id, AgentRole.ADMIN))

        off = await http.patch(
            f"/api/v2/agents/{ben_id}", json={"isActive": False}, headers=as_root
        )
        await eventually(ben.gone.is_set, what="Ben's session ended")
        with pytest.raises(Refused) as refusal:
            await connect(served.url, ben_token)
        rest = await http.get("/api/v2/tickets", headers={"Authorization": f"Bearer {ben_token}"})

        up = await http.patch(f"/api/v2/agents/{carl_id}", json={"role": "admin"}, headers=as_root)
        alert = breached(new_ticket_id(), None)  # admins only
        await publish(rabbit, alert)
        marker = await sync([carl, root], rabbit)
        carl_heard = seen(carl, marker)
        for inbox in (carl, root):
            await hang_up(inbox)

    assert off.status_code == 200, off.text
    assert refusal.value.args[0] == [{"message": UNAUTHORIZED}]
    assert rest.status_code == 401
    assert up.status_code == 200, up.text
    assert carl_heard == [("sla_breach_alert", alert.ticket_id)]


async def test_tickets_agents_deactivate_ends_sessions_at_once(
    endpoints: Endpoints, database: str
) -> None:
    settings = settings_for(endpoints, database, jwt_secret=SECRET, notifier=NO_PERIODIC_CHECK)
    async with serving(settings, [TicketService(), Notifier()]) as served:
        ana_id = await make_agent("Ana")
        await make_agent("Dan")
        await make_agent("Root", AgentRole.ADMIN)
        ana_token = token(settings, ana_id)
        ana = await connect(served.url, ana_token)
        done = await deactivate(endpoints, database, "ana-agent@example.com", endpoints.rabbit_url)
        await eventually(ana.gone.is_set, what="Ana's session ended")
        async with httpx.AsyncClient(base_url=served.url) as http:
            rest = await http.get(
                "/api/v2/tickets", headers={"Authorization": f"Bearer {ana_token}"}
            )
        unknown = await deactivate(endpoints, database, "nobody@example.com", endpoints.rabbit_url)
        last_admin = await deactivate(
            endpoints, database, "root-admin@example.com", endpoints.rabbit_url
        )
        offline = await deactivate(
            endpoints,
            database,
            "dan-agent@example.com",
            f"amqp://guest:guest@127.0.0.1:{closed_port()}/",
        )
        back = await deactivate(
            endpoints, database, "ana-agent@example.com", endpoints.rabbit_url, "activate"
        )
        again = await connect(served.url, ana_token)
        await hang_up(again)

    assert done[0] == 0, done
    assert "deactivated" in done[1]
    assert rest.status_code == 401
    assert unknown[0] == 1
    assert "no agent" in unknown[1]
    assert last_admin[0] == 1
    assert "admin must remain" in last_admin[1]
    assert offline[0] == 0, offline
    assert "TICKETS_NOTIFIER__SESSION_CHECK_SECONDS" in offline[1]
    assert back[0] == 0, back
    assert "active" in back[1]
