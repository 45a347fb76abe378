"""HTTP: the tool definitions, and tool execution for bots that run their own LLM.

Every failure of the endpoint itself answers `{"success": false, "error": "<message>",
"code": "<code>", "details"?}`: 401 `unauthorized` without a known `X-API-Key` (checked
before the body), 422 `validation` for a body that is not JSON or not a request.
"""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

from contracts.assistant import ToolCallsRequest, ToolCallsResponse
from contracts.enums import ErrorCode
from infra.auth import valid_api_key
from infra.settings import Settings
from services.assistant_gateway.domain.tools import tool_definitions
from services.assistant_gateway.executor import ToolExecutor
from services.assistant_gateway.tool_calls import problems, run_tool_calls, summary

UNAUTHORIZED = "Missing or unknown X-API-Key"


class FieldProblem(BaseModel):
    field: str
    message: str


class EndpointError(BaseModel):
    success: bool = False
    error: str
    code: str
    details: list[FieldProblem] | None = None


def _failure(
    status: int, code: str, message: str, details: list[dict[str, str]] | None = None
) -> JSONResponse:
    listed = [FieldProblem.model_validate(d) for d in details] if details else None
    body = EndpointError(error=message, code=code, details=listed)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status)


def build_api(executor: Callable[[], ToolExecutor], settings: Callable[[], Settings]) -> APIRouter:
    class GatewayRoute(APIRoute):
        """A body FastAPI cannot validate answers the gateway's envelope, after the key."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def run(request: Request) -> Response:
                try:
                    return await handler(request)
                except RequestValidationError as error:
                    if not valid_api_key(settings(), request.headers.get("x-api-key")):
                        return _failure(401, "unauthorized", UNAUTHORIZED)
                    found = problems(error.errors())
                    return _failure(422, ErrorCode.VALIDATION, summary(found), found)

            return run

    router = APIRouter(prefix="/api/v2/assistant", tags=["assistant"], route_class=GatewayRoute)

    def api_key(x_api_key: Annotated[str | None, Header()] = None) -> bool:
        return valid_api_key(settings(), x_api_key)

    @router.get("/tools")
    async def tools() -> dict[str, list[dict[str, Any]]]:
        """The tool definitions as strict JSON Schemas, in the Responses API
        (`responses`) and Chat Completions (`chatCompletions`) shapes."""
        return tool_definitions()

    @router.post(
        "/tool-calls",
        response_model=ToolCallsResponse,
        responses={
            401: {"model": EndpointError, "description": UNAUTHORIZED},
            422: {"model": EndpointError, "description": "Not JSON, or not a request"},
        },
    )
    async def tool_calls(
        body: ToolCallsRequest, authorized: Annotated[bool, Depends(api_key)]
    ) -> ToolCallsResponse | JSONResponse:
        """Run the calls for the verified customer; every output is JSON, a failure is
        `{success: false, error, userMessage}`. The call id is the idempotency key."""
        if not authorized:
            return _failure(401, "unauthorized", UNAUTHORIZED)
        return await run_tool_calls(executor(), body)

    return router
