"""What `/openapi.json` says about each operation beyond its own route: who may call it,
the refusals that come before any route runs, and a readable operationId.

Security is derived from the gate's doors (`infra.gate.door_for`), the same data that
enforces it, so the document cannot promise less or more than the gate does: an
operation behind a door that takes agents lists `agentToken`, one that takes API keys
lists `apiKey` with the scope it needs. The gate's refusals (401, 403, 429, 503) and the
body limit's 413 are added where they can happen, all in the error envelope.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic.json_schema import models_json_schema

from contracts.rest import ErrorEnvelope
from infra.gate import Door, door_for

SCHEMES: dict[str, dict[str, Any]] = {
    "agentToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An agent's token (`tickets agents create` / `tickets agents token`); "
        "the agent must exist and be active, the role comes from the agent record.",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A service key: one of `TICKETS_API_KEYS` (every scope) or a "
        "`tickets keys` key; the requirement lists the scope the operation needs.",
    },
    "metricsToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "`TICKETS_METRICS_TOKEN`, when set (else /metrics is open).",
    },
    "metaSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Hub-Signature-256",
        "description": "`sha256=<hex>`: HMAC-SHA256 of the raw body with the Meta app secret.",
    },
    "metaVerifyToken": {
        "type": "apiKey",
        "in": "query",
        "name": "hub.verify_token",
        "description": "`TICKETS_WHATSAPP__VERIFY_TOKEN`, echoed by Meta.",
    },
}
METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})
ERROR = {"$ref": "#/components/schemas/ErrorEnvelope"}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
CHALLENGE = {"WWW-Authenticate": {"description": "The scheme to use", "schema": {"type": "string"}}}
FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")


def operation_id(route: APIRoute) -> str:
    """`list_tickets` -> `listTickets`: the route function's name, in camelCase."""
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def install(app: FastAPI) -> None:
    """`app.openapi()` builds FastAPI's document once, then describes it."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            app.openapi_schema = describe(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def describe(document: dict[str, Any]) -> dict[str, Any]:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(_error_schemas())
    components["securitySchemes"] = SCHEMES
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                _describe_operation(method.upper(), path, operation)
    fastapi_errors = {name: schemas.pop(name) for name in FASTAPI_ERRORS if name in schemas}
    if _refers_to(document, FASTAPI_ERRORS):  # a route declares them: keep them
        schemas.update(fastapi_errors)
    return document


def requirement(door: Door) -> list[dict[str, list[str]]]:
    """The OpenAPI security requirement of a door: any one of the credentials it takes."""
    taken: list[dict[str, list[str]]] = []
    if door.agents:
        taken.append({"agentToken": []})
    if door.scope is not None:
        taken.append({"apiKey": [str(door.scope)]})
    return taken


def _describe_operation(method: str, path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    door = door_for(method, path)
    if door is None:  # public to the gate; the route may name a scheme of its own
        own = operation.get("security", [])
        operation["security"] = [r for r in own if set(r) <= set(SCHEMES)]
    else:
        operation["security"] = requirement(door)
        for status, description, headers in _gate_refusals(door):
            _error(responses, status, description, headers)
    if "requestBody" in operation:
        _error(responses, "413", "The body is larger than `TICKETS_HTTP_MAX_BODY_BYTES`")
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            _as_envelope(response)


def _gate_refusals(door: Door) -> list[tuple[str, str, dict[str, Any] | None]]:
    refusals: list[tuple[str, str, dict[str, Any] | None]] = [
        ("401", "No credential, or one that is invalid, expired or unknown", CHALLENGE),
        ("429", "Over the caller's requests per minute, or too many failed logins", RETRY_AFTER),
        ("503", "Credentials could not be checked (storage away, or starting)", None),
    ]
    if door.scope is not None:
        refusals.append(("403", f"An API key without the `{door.scope}` scope", None))
    return refusals


def _error(
    responses: dict[str, Any], status: str, description: str, headers: dict[str, Any] | None = None
) -> None:
    response = responses.setdefault(status, {"description": description})
    if headers:
        response.setdefault("headers", {}).update(headers)


def _as_envelope(response: dict[str, Any]) -> None:
    """A failure without a model of its own answers the error envelope (FastAPI's
    validation model is not what the routes send: they answer the envelope)."""
    json_content = response.setdefault("content", {}).setdefault("application/json", {})
    schema = json_content.get("schema")
    if not schema or _refers_to(schema, FASTAPI_ERRORS):
        json_content["schema"] = ERROR


def _error_schemas() -> dict[str, Any]:
    _, top = models_json_schema(
        [(ErrorEnvelope, "serialization")], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = top["$defs"]
    return schemas


def _refers_to(node: Any, names: tuple[str, ...]) -> bool:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in names:
            return True
        return any(_refers_to(value, names) for value in node.values())
    if isinstance(node, list):
        return any(_refers_to(item, names) for item in node)
    return False
