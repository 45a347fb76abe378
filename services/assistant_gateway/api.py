"""HTTP: the tool definitions, and tool execution for bots that run their own LLM."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse

from infra.auth import valid_api_key
from infra.settings import Settings
from services.assistant_gateway.domain.tools import tool_definitions
from services.assistant_gateway.domain.wire import ToolCallsRequest, ToolCallsResponse
from services.assistant_gateway.executor import ToolExecutor
from services.assistant_gateway.tool_calls import run_tool_calls


def build_api(executor: Callable[[], ToolExecutor], settings: Callable[[], Settings]) -> APIRouter:
    router = APIRouter(prefix="/api/v2/assistant", tags=["assistant"])

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
        responses={401: {"description": "Missing or unknown X-API-Key"}},
    )
    async def tool_calls(
        body: ToolCallsRequest, authorized: Annotated[bool, Depends(api_key)]
    ) -> ToolCallsResponse | JSONResponse:
        """Run the calls for the verified customer; every output is JSON, a failure is
        `{success: false, error, userMessage}`. The call id is the idempotency key."""
        if not authorized:
            return JSONResponse(
                {"success": False, "error": "Missing or unknown X-API-Key"}, status_code=401
            )
        return await run_tool_calls(executor(), body)

    return router
