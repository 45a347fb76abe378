"""Pushes reach only agents who may read the ticket, for tickets made through the REST API
(real uvicorn, real RabbitMQ, real Socket.IO clients)."""

import httpx
import pytest

from contracts.enums import AgentRole
from services.notifier.main import Notifier
from services.ticket_service.main import TicketService
from tests.integration.test_notifier_sockets import notifier_settings, seen, sync, token
from tests.support.api import new_ticket
from tests.support.factories import make_agent
from tests.support.notifier_system import connect, hang_up, publisher, serving
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration


async def test_an_agents_own_new_ticket_is_pushed_to_that_agent_and_the_admins_only(
    endpoints: Endpoints, database: str
) -> None:
    settings = notifier_settings(endpoints, database)
    async with (
        serving(settings, [TicketService(), Notifier()]) as served,
        publisher(endpoints.rabbit_url) as rabbit,
        httpx.AsyncClient(base_url=served.url) as http,
    ):
        ana_id, ben_id = await make_agent("Ana"), await make_agent("Ben")
        root_id = await make_agent("Root", AgentRole.ADMIN)
        ana = await connect(served.url, token(settings, ana_id))
        ben = await connect(served.url, token(settings, ben_id))
        root = await connect(served.url, token(settings, root_id, AgentRole.ADMIN))
        as_ana = {"Authorization": f"Bearer {token(settings, ana_id)}"}
        mine = await http.post("/api/v2/tickets", json=new_ticket(), headers=as_ana)
        pool = await http.post(
            "/api/v2/tickets", json=new_ticket(assignToSelf=False), headers=as_ana
        )
        assert (mine.status_code, pool.status_code) == (201, 201), (mine.text, pool.text)
        mine_id, pool_id = mine.json()["data"]["ticketId"], pool.json()["data"]["ticketId"]
        ben_reads = await http.get(
            f"/api/v2/tickets/{mine_id}",
            headers={"Authorization": f"Bearer {token(settings, ben_id)}"},
        )
        marker = await sync([ana, ben, root], rabbit)
        for inbox in (ana, ben, root):
            await hang_up(inbox)

    assert ben_reads.status_code == 404
    assert seen(ben, marker) == [("ticket_created", pool_id)]
    for inbox in (ana, root):
        assert ("ticket_created", mine_id) in seen(inbox, marker)
        assert ("ticket_assigned", mine_id) in seen(inbox, marker)
        assert ("ticket_created", pool_id) in seen(inbox, marker)
    assert ana.named("ticket_created")[0] == {
        "ticketId": mine_id,
        "customerId": mine.json()["data"]["customerId"],
        "conversationId": None,
        "priority": "medium",
        "category": "support",
    }
