"""Test data made through the real stores."""

from datetime import UTC, datetime
from typing import Any

from contracts.enums import AgentRole
from services.ticket_service.documents import Agent

CUSTOMER_A = "+34600000001"
CUSTOMER_B = "+34600000002"


async def make_agent(
    name: str = "Ana", role: AgentRole = AgentRole.AGENT, *, active: bool = True
) -> str:
    agent = Agent(
        name=name,
        email=f"{name.lower()}-{role}@example.com",
        role=role,
        is_active=active,
        created_at=datetime.now(UTC),
    )
    await agent.insert()
    return str(agent.id)


def customer(phone: str = CUSTOMER_A) -> dict[str, Any]:
    return {"type": "Customer", "phone": phone}


def agent_actor(agent_id: str) -> dict[str, Any]:
    return {"type": "Agent", "id": agent_id}


SYSTEM: dict[str, Any] = {"type": "System"}


def create_body(phone: str = CUSTOMER_A, **extra: Any) -> dict[str, Any]:
    return {
        "actor": customer(phone),
        "title": "Order not delivered",
        "description": "My order #12345 has not arrived after two weeks.",
        "source": "ai",
        "customer": {"phone": phone},
        **extra,
    }
