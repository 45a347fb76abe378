"""HTTP: the tool definitions, and tool execution for bots that run their own LLM.

Every failure of the endpoint itself answers `{"success": false, "error": "<message>",
"code": "<code>", "details"?}`: the gate (`infra.gate`) answers 401 `unauthorized`
without a known `X-API-Key`, 403 for a key without the `assistant` scope and 429 over the
key's request budget, all before the body is read; 422 `validation` for a body that is
not JSON or not a request.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field

from contracts.assistant import ToolCallsRequest, ToolCallsResponse
from contracts.rest import ErrorEnvelope
from infra.api_keys import Scope
from infra.identity import ServiceIdentity
from infra.rest import envelope_route, failure
from services.assistant_gateway.domain.tools import tool_definitions
from services.assistant_gateway.executor import ToolExecutor
from services.assistant_gateway.tool_calls import run_tool_calls

UNAUTHORIZED = "Missing or unknown X-API-Key"
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="A service key with the `assistant` scope"
)


class ToolDefinitions(BaseModel):
    """The same tools in both API shapes, as strict JSON Schemas."""

    responses: list[dict[str, Any]] = Field(description="Responses API `tools` entries")
    chatCompletions: list[dict[str, Any]] = Field(  # noqa: N815 - the wire name
        description="Chat Completions `tools` entries"
    )


def build_api(executor: Callable[[], ToolExecutor]) -> APIRouter:
    router = APIRouter(prefix="/api/v2/assistant", tags=["assistant"], route_class=envelope_route())

    def api_key(request: Request, _key: Annotated[str | None, Depends(api_key_scheme)]) -> bool:
        """The gate checked the key and its scope; this fails closed without the gate."""
        identity = getattr(request.state, "identity", None)
        return isinstance(identity, ServiceIdentity) and Scope.ASSISTANT in identity.scopes

    @router.get(
        "/tools",
        response_model=None,
        responses={200: {"model": ToolDefinitions, "description": "The tool definitions"}},
    )
    async def list_tools() -> dict[str, list[dict[str, Any]]]:
        """The tool definitions as strict JSON Schemas, in the Responses API
        (`responses`) and Chat Completions (`chatCompletions`) shapes."""
        return tool_definitions()

    @router.post(
        "/tool-calls",
        response_model=ToolCallsResponse,
        responses={
            401: {"model": ErrorEnvelope, "description": UNAUTHORIZED},
            403: {"model": ErrorEnvelope, "description": "The key lacks the `assistant` scope"},
            429: {"model": ErrorEnvelope, "description": "Over the key's requests per minute"},
            422: {"model": ErrorEnvelope, "description": "Not JSON, or not a request"},
        },
    )
    async def execute_tool_calls(
        body: ToolCallsRequest, authorized: Annotated[bool, Depends(api_key)]
    ) -> ToolCallsResponse | JSONResponse:
        """Run the calls for the verified customer; every output is JSON, a failure is
        `{success: false, error, userMessage}`. The call id is the idempotency key."""
        if not authorized:
            return failure(401, "unauthorized", UNAUTHORIZED)
        return await run_tool_calls(executor(), body)

    return router
