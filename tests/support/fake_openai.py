"""A local HTTP server speaking just enough of the OpenAI Responses API and Chat
Completions for the official SDK: each request takes the next scripted step."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.support.waiting import eventually

Outputs = list[dict[str, Any]]
"""The function outputs (decoded) found in the request, oldest first."""


@dataclass(frozen=True)
class Say:
    """A final answer; `text` may be built from the tool outputs the request carries."""

    text: str | Callable[[Outputs], str]


@dataclass(frozen=True)
class Call:
    """Tool calls in one model turn (several = parallel tool calls). Arguments are sent
    as given when a string (so malformed JSON can be scripted), else JSON-encoded."""

    calls: list[tuple[str, str | dict[str, Any] | Callable[[Outputs], dict[str, Any]]]]


@dataclass(frozen=True)
class Fail:
    status: int = 500


@dataclass(frozen=True)
class Hang:
    """Never answers (until the server stops): the client's timeout has to act."""


@dataclass(frozen=True)
class Garbage:
    """A 200 whose body is not what the API answers (`body` sent as is, as JSON)."""

    body: bytes


Step = Say | Call | Fail | Hang | Garbage


@dataclass
class FakeOpenAI:
    base_url: str = ""
    script: deque[Step] = field(default_factory=deque)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, *steps: Step) -> None:
        self.script.extend(steps)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.requests if p == path]

    async def received(self, count: int, timeout: float = 30) -> None:
        """Until `count` requests have come in."""
        await eventually(
            lambda: len(self.requests) >= count,
            what=f"{count} requests to the fake OpenAI",
            timeout=timeout,
            wake=self.arrived,
        )

    async def answer(self, path: str, body: dict[str, Any]) -> Response:
        self.requests.append((path, body))
        self.arrived.set()
        step = self.script.popleft() if self.script else Fail(599)
        if isinstance(step, Hang):
            await asyncio.wait_for(self.release.wait(), 60)
            step = Fail(503)
        if isinstance(step, Fail):
            error = {"message": "scripted failure", "type": "server_error", "code": None}
            return JSONResponse({"error": error}, status_code=step.status)
        if isinstance(step, Garbage):
            return Response(step.body, media_type="application/json")
        outputs = _outputs(path, body)
        if path == "responses":
            return JSONResponse(self._response(step, outputs, body))
        return JSONResponse(self._completion(step, outputs, body))

    def _calls(self, step: Call, outputs: Outputs) -> list[tuple[str, str, str]]:
        made = []
        for name, arguments in step.calls:
            value = arguments(outputs) if callable(arguments) else arguments
            text = value if isinstance(value, str) else json.dumps(value)
            made.append((f"call_{next(self._ids)}", name, text))
        return made

    def _response(self, step: Say | Call, outputs: Outputs, body: dict[str, Any]) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        if isinstance(step, Say):
            text = step.text(outputs) if callable(step.text) else step.text
            content = [{"type": "output_text", "text": text, "annotations": []}]
            items.append(
                {
                    "type": "message",
                    "id": f"msg_{next(self._ids)}",
                    "role": "assistant",
                    "status": "completed",
                    "content": content,
                }
            )
        else:
            for call_id, name, arguments in self._calls(step, outputs):
                items.append(
                    {
                        "type": "function_call",
                        "id": f"fc_{call_id}",
                        "call_id": call_id,
                        "name": name,
                        "arguments": arguments,
                        "status": "completed",
                    }
                )
        return {
            "id": f"resp_{next(self._ids)}",
            "object": "response",
            "created_at": 1_700_000_000,
            "model": body.get("model", "fake"),
            "status": "completed",
            "output": items,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": body.get("tools", []),
        }

    def _completion(
        self, step: Say | Call, outputs: Outputs, body: dict[str, Any]
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if isinstance(step, Say):
            message["content"] = step.text(outputs) if callable(step.text) else step.text
            finish = "stop"
        else:
            message["tool_calls"] = [
                {"id": call_id, "type": "function", "function": {"name": n, "arguments": a}}
                for call_id, n, a in self._calls(step, outputs)
            ]
            finish = "tool_calls"
        return {
            "id": f"chatcmpl_{next(self._ids)}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "finish_reason": finish, "message": message}],
        }


def _outputs(path: str, body: dict[str, Any]) -> Outputs:
    if path == "responses":
        raw = [
            item["output"]
            for item in body.get("input", [])
            if isinstance(item, dict) and item.get("type") == "function_call_output"
        ]
    else:
        raw = [m["content"] for m in body.get("messages", []) if m.get("role") == "tool"]
    return [json.loads(text) for text in raw]


def _app(fake: FakeOpenAI) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/responses")
    async def responses(request: Request) -> Response:
        return await fake.answer("responses", await request.json())

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        return await fake.answer("chat", await request.json())

    return app


@asynccontextmanager
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    fake.base_url = f"http://127.0.0.1:{port}/v1"
    config = uvicorn.Config(_app(fake), log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await eventually(lambda: server.started, what="the fake OpenAI server to listen")
    try:
        yield fake
    finally:
        fake.release.set()
        server.should_exit = True
        await task
        sock.close()
