"""Who is calling the REST API: an agent with a bearer JWT or a service with an API key.

A token is checked for signature, issuer and expiry, then against the agents collection:
an unknown or inactive agent is refused with 401 even while the token is still valid, and
the role comes from the agent record (a demoted admin loses admin rights at once). Every
authenticated caller then spends one hit of their per-minute request budget.
"""

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from contracts.actors import AgentActor, SystemActor
from contracts.enums import AgentRole
from infra.auth import InvalidToken, valid_api_key, verify_token
from infra.settings import Settings
from services.ticket_service.api_errors import UNAUTHORIZED, ApiError, rate_limited
from services.ticket_service.ratelimit import RateLimiter
from services.ticket_service.usecases import TicketUseCases

REQUEST_WINDOW = timedelta(minutes=1)

bearer_scheme = HTTPBearer(auto_error=False, description="An agent's JWT (`tickets agents token`)")
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="A service key from TICKETS_API_KEYS"
)


@dataclass(frozen=True, slots=True)
class Caller:
    actor: AgentActor | SystemActor
    budget_key: str
    role: AgentRole | None = None


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, UNAUTHORIZED, message, {"WWW-Authenticate": "Bearer"})


async def _agent(use_cases: TicketUseCases, settings: Settings, token: str) -> Caller:
    try:
        claims = verify_token(settings, token, use_cases.clock.now())
    except InvalidToken as error:
        raise _unauthorized(f"Invalid token: {error}") from error
    agent = await use_cases.agents.get(claims.sub)
    if agent is None or not agent.is_active:
        raise _unauthorized("Unknown or inactive agent")
    return Caller(AgentActor(id=str(agent.id)), f"agent:{agent.id}", agent.role)


def _service(settings: Settings, key: str) -> Caller:
    if not valid_api_key(settings, key):
        raise _unauthorized("Unknown API key")
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Caller(SystemActor(), f"key:{digest}")


def authentication(
    use_cases: Callable[[], TicketUseCases],
    settings: Callable[[], Settings],
    limiter: Callable[[], RateLimiter],
) -> Callable[..., Awaitable[Caller]]:
    """The dependency every route takes; the callables resolve per request."""

    async def authenticate(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
        api_key: Annotated[str | None, Depends(api_key_scheme)],
    ) -> Caller:
        cases, config = use_cases(), settings()
        if api_key is not None:
            caller = _service(config, api_key)
        elif credentials is not None:
            caller = await _agent(cases, config, credentials.credentials)
        else:
            raise _unauthorized("Missing credentials: send 'Authorization: Bearer <token>'")
        request.state.caller = caller.budget_key
        wait = await limiter().hit(
            f"api:{caller.budget_key}",
            config.api_requests_per_minute,
            REQUEST_WINDOW,
            cases.clock.now(),
        )
        if wait is not None:
            raise rate_limited(f"Too many requests; retry in {wait} seconds", wait)
        return caller

    return authenticate
