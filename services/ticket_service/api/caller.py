"""Who is calling the REST API: the gate (`infra.gate`) has already checked the agent's
bearer JWT (signature, expiry, an active agent record) or the service's API key, and
counted the request against the caller's budget, before the route read anything. Routes
take the verified identity from here and decide what it may do."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from contracts.actors import AgentActor, SystemActor
from contracts.enums import AgentRole
from infra.identity import AgentIdentity, ServiceIdentity
from infra.rest import ApiError

bearer_scheme = HTTPBearer(auto_error=False, description="An agent's JWT (`tickets agents token`)")
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="A service key with the `tickets` scope"
)


@dataclass(frozen=True, slots=True)
class Caller:
    actor: AgentActor | SystemActor
    budget_key: str
    role: AgentRole | None = None


async def current_caller(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    _api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Caller:
    """The schemes only document the credentials in OpenAPI. Fails closed: without the
    gate's identity (an app built without the gate) no route runs."""
    identity = getattr(request.state, "identity", None)
    if isinstance(identity, AgentIdentity):
        return Caller(AgentActor(id=identity.id), identity.budget_key, identity.role)
    if isinstance(identity, ServiceIdentity):
        return Caller(SystemActor(), identity.budget_key)
    raise ApiError(401, "unauthorized", "Missing credentials", {"WWW-Authenticate": "Bearer"})


def authentication(*_: Any) -> Callable[..., Awaitable[Caller]]:
    """The dependency every route takes (its arguments are ignored: the gate has the
    settings, stores and limiter); kept so routers built with it keep working."""
    return current_caller
