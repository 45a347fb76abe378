"""`/api/v2/agents`: the agent directory (everyone: active colleagues to assign to; admins:
every agent) and an admin changing an agent's role or access."""

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from contracts.replies import Pagination
from contracts.rest import ErrorEnvelope
from infra.ratelimit import RateLimiter
from infra.settings import Settings
from services.ticket_service.agents import (
    AgentDirectory,
    AgentEdit,
    AgentEntry,
    AgentRecord,
    DirectoryQuery,
    entry,
)
from services.ticket_service.api.caller import Caller, authentication
from services.ticket_service.api.errors import ERROR_RESPONSES, EnvelopeRoute
from services.ticket_service.usecases import TicketUseCases

AgentIdPath = Annotated[str, Path(alias="agentId", pattern=r"^[0-9a-f]{24}$")]


class DirectoryEnvelope(BaseModel):
    success: Literal[True] = True
    data: list[AgentRecord | AgentEntry] = Field(
        description="Admins and services: full records; agents: id, name, fullName, email"
    )
    count: int
    pagination: Pagination


class AgentEnvelope(BaseModel):
    success: Literal[True] = True
    data: AgentRecord | AgentEntry


def build_directory_router(
    use_cases: Callable[[], TicketUseCases],
    directory: Callable[[], AgentDirectory],
    settings: Callable[[], Settings],
    limiter: Callable[[], RateLimiter],
) -> APIRouter:
    router = APIRouter(
        prefix="/api/v2/agents",
        tags=["agents"],
        route_class=EnvelopeRoute,
        responses=ERROR_RESPONSES,
    )
    authenticated = Annotated[Caller, Depends(authentication(use_cases, settings, limiter))]

    @router.get("", response_model=DirectoryEnvelope, summary="The agent directory")
    async def list_agents(caller: authenticated, query: Annotated[DirectoryQuery, Query()]) -> Any:
        """Agents get the active agents (id, name, email: whom to assign to); admins and
        services every agent with role, state and creation time (`active`, `role`, `q`
        filter). Sorted by name."""
        principal = await use_cases().principal(caller.actor)
        items, total = await directory().list(principal, query)
        pages = -(-total // query.limit)
        pagination = Pagination(page=query.page, limit=query.limit, total=total, pages=pages)
        body = {
            "success": True,
            "data": items,
            "count": len(items),
            "pagination": pagination.model_dump(),
        }
        return JSONResponse(body)

    @router.get("/{agentId}", response_model=AgentEnvelope, summary="One agent")
    async def get_agent(caller: authenticated, agent_id: AgentIdPath) -> Any:
        """An admin sees anyone in full; an agent sees themselves in full and an active
        colleague in short (an inactive one is 404)."""
        principal = await use_cases().principal(caller.actor)
        return JSONResponse({"success": True, "data": await directory().get(principal, agent_id)})

    @router.patch(
        "/{agentId}",
        response_model=AgentEnvelope,
        responses={
            403: {"model": ErrorEnvelope, "description": "The caller is not an admin"},
            409: {
                "model": ErrorEnvelope,
                "description": "The last active admin would be lost, or a concurrent change won",
            },
        },
        summary="Change an agent's role or access",
    )
    async def change_agent(caller: authenticated, agent_id: AgentIdPath, body: AgentEdit) -> Any:
        """Admins only. `isActive: false` (or `active: false`) takes the agent's access away
        at once: their tokens get 401 on the next request and their Socket.IO sessions end."""
        principal = await use_cases().principal(caller.actor)
        agent = await directory().change(principal, agent_id, body)
        return JSONResponse({"success": True, "data": entry(agent, full=True)})

    return router
