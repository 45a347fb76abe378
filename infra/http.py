"""One ASGI app for every HTTP surface of the services that run in this process."""

import hmac
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from contracts.asyncapi import build_document
from contracts.rest import ErrorEnvelope
from infra import openapi
from infra.body_limit import BodyLimit
from infra.docs import add_docs
from infra.gate import Gate
from infra.health import check_dependencies
from infra.metrics import HttpMetrics
from infra.rest import failure
from infra.runtime import Runtime


def build_app(runtime: Runtime, routers: Sequence[APIRouter] = ()) -> ASGIApp:
    """FastAPI with every service's routes (and `routers`, the process's own) behind the
    gate (authentication and rate limits before any route reads a body), wrapped by the
    services that wrap (Socket.IO)."""
    asgi: ASGIApp = Gate(build_fastapi(runtime, routers), runtime)
    for service in runtime.services:
        asgi = service.wrap_http(asgi)
    return HttpMetrics(BodyLimit(asgi, runtime.settings.http_max_body_bytes))


def build_fastapi(runtime: Runtime, routers: Sequence[APIRouter] = ()) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="WhatsApp tickets",
        description="Ticketing backend for WhatsApp support with an AI assistant in front.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served from local assets by add_docs
        redoc_url=None,
        generate_unique_id_function=openapi.operation_id,
    )
    add_docs(app)
    openapi.install(app)
    for router in [r for s in runtime.services for r in s.http_routers()] + list(routers):
        app.include_router(router)
    app.add_exception_handler(HTTPException, _http_error)

    @app.get("/asyncapi.json", tags=["ops"], response_model=None, responses=ASYNCAPI)
    async def get_asyncapi() -> dict[str, Any]:
        """AsyncAPI 3.1 document of every RabbitMQ queue and event payload."""
        return build_document()

    @app.get("/healthz", tags=["ops"])
    async def get_health() -> Health:
        """Liveness: the process runs and its services started."""
        return Health(ok=runtime.context is not None, services=[s.name for s in runtime.services])

    @app.get(
        "/readyz",
        tags=["ops"],
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "Not ready: `checks` says why"}},
    )
    async def get_readiness() -> JSONResponse:
        """Readiness: MongoDB and RabbitMQ answer now (503 naming the one that does not)."""
        return await _readiness(runtime)

    @app.get(
        "/metrics",
        tags=["ops"],
        response_class=Response,
        responses=METRICS,
        openapi_extra={"security": [{}, {"metricsToken": []}]},
    )
    async def get_metrics(request: Request) -> Response:
        """Prometheus exposition format; with `TICKETS_METRICS_TOKEN` set, only for
        `Authorization: Bearer <that token>` (Prometheus: `authorization.credentials`)."""
        if not _metrics_allowed(runtime.settings.metrics_token, request):
            return failure(
                401, "unauthorized", "A metrics token is required", {"WWW-Authenticate": "Bearer"}
            )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


class Health(BaseModel):
    ok: bool = Field(description="The services started")
    services: list[str]


class Readiness(BaseModel):
    ok: bool
    checks: dict[str, str] = Field(
        description="`mongodb`, `rabbitmq`: `ok`, or why not", examples=[{"mongodb": "ok"}]
    )
    services: list[str]


ASYNCAPI: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The AsyncAPI 3.1 document",
        "content": {"application/json": {"schema": {"type": "object", "required": ["asyncapi"]}}},
    }
}
METRICS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus text exposition format",
        "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
    },
    401: {"model": ErrorEnvelope, "description": "`TICKETS_METRICS_TOKEN` is set and not sent"},
}


def _metrics_allowed(token: str | None, request: Request) -> bool:
    if token is None:
        return True
    scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
    expected = token.encode()
    presented = given.strip().encode("utf-8", "surrogateescape")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented, expected)


async def _readiness(runtime: Runtime) -> JSONResponse:
    services = [s.name for s in runtime.services]
    context = runtime.context
    if context is None:
        checks = {"mongodb": "not started", "rabbitmq": "not started"}
    else:
        checks = await check_dependencies(context.mongo, context.broker)
    ready = all(state == "ok" for state in checks.values())
    body = {"ok": ready, "checks": checks, "services": services}
    return JSONResponse(body, status_code=200 if ready else 503)


_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}


async def _http_error(_: Request, error: Exception) -> Response:
    """Unknown paths and wrong methods answer in the customer's envelope too."""
    assert isinstance(error, HTTPException)
    code = _CODES.get(error.status_code, "http_error")
    return failure(error.status_code, code, str(error.detail), error.headers)
