"""`/api/v2/demo/clock`: the movable clock of `tickets up --demo`, mounted only there, so a
production process (`tickets run`, or `tickets up` without `--demo`) has no such route and
its time cannot be moved by anyone."""

from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.rest import ErrorEnvelope
from infra.clock import OffsetClock
from infra.identity import AgentIdentity, ServiceIdentity
from infra.rest import failure

ROUTE = "/demo/clock"
"""Under the REST API's prefix."""
PATH = f"/api/v2{ROUTE}"
MAX_ADVANCE_SECONDS = 366 * 24 * 3600


class Advance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    advance_seconds: int = Field(
        alias="advanceSeconds", gt=0, le=MAX_ADVANCE_SECONDS, description="How far forward"
    )


class ClockReading(BaseModel):
    now: datetime = Field(description="The time every service of the process sees")
    offset_seconds: int = Field(alias="offsetSeconds", description="How far it was moved")


class ClockEnvelope(BaseModel):
    success: Literal[True] = True
    data: ClockReading


ADVANCE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": Advance.model_json_schema(by_alias=True)}},
    }
}
REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorEnvelope, "description": "An agent who is not an admin"},
    422: {"model": ErrorEnvelope, "description": "Not a whole number of seconds ahead"},
}


def _clock_body(clock: OffsetClock) -> dict[str, Any]:
    offset = int(clock.offset.total_seconds())
    return {"success": True, "data": {"now": clock.now().isoformat(), "offsetSeconds": offset}}


def _may_move(request: Request) -> bool:
    """Admins and service keys (the gate took only keys with the `tickets` scope here)."""
    identity = getattr(request.state, "identity", None)
    return isinstance(identity, ServiceIdentity) or (
        isinstance(identity, AgentIdentity) and identity.admin
    )


def demo_clock_router(clock: OffsetClock) -> APIRouter:
    router = APIRouter(tags=["demo"])

    @router.get(PATH, summary="The demo system's time", response_model=ClockEnvelope)
    async def read_clock() -> JSONResponse:
        """Now, as every service of this process sees it, and how far it was moved."""
        return JSONResponse(_clock_body(clock))

    @router.post(
        PATH,
        summary="Move the demo system's time forward",
        response_model=ClockEnvelope,
        responses=REFUSALS,
        openapi_extra=ADVANCE_BODY,
    )
    async def advance_clock(request: Request) -> JSONResponse:
        """`{"advanceSeconds": n}` (1 s to 366 days): every service of this process sees
        the later time at once (SLA timers, auto-close, windows). Admins and API keys."""
        if not _may_move(request):
            return failure(403, "forbidden", "Only an admin or an API key may move the clock")
        try:
            body = Advance.model_validate_json(await request.body())
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            return failure(422, "validation", f"{where}: {first['msg']}")
        clock.advance(timedelta(seconds=body.advance_seconds))
        return JSONResponse(_clock_body(clock))

    return router
