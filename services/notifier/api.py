"""Admin API for outbound webhooks: `/api/v2/webhooks` (bearer token of an active admin).

Replies use the REST envelope `{"success": true, "data": ...}` /
`{"success": false, "error": "<message>", "code": "<code>"}`.
"""

import logging
import math
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from contracts.rest import ErrorEnvelope
from infra.identity import AgentIdentity
from infra.rest import ApiError, envelope_route
from services.notifier.api_models import (
    DeletedEnvelope,
    DeliveryEnvelope,
    DeliveryListEnvelope,
    SecretRotation,
    WebhookCreate,
    WebhookEnvelope,
    WebhookListEnvelope,
    WebhookUpdate,
)
from services.notifier.documents import Webhook, new_secret, new_webhook_id
from services.notifier.domain.webhooks import DeliveryStatus
from services.notifier.repository import WebhookStore

log = logging.getLogger(__name__)


EnvelopeRoute = envelope_route()


bearer_scheme = HTTPBearer(auto_error=False, description="An admin's JWT")
ADMIN_ONLY: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorEnvelope, "description": "The caller is not an admin"},
    422: {
        "model": ErrorEnvelope,
        "description": "Invalid body or query; `details` names the fields",
    },
    500: {"model": ErrorEnvelope, "description": "Storage failed; nothing was changed"},
}
NO_WEBHOOK: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorEnvelope, "description": "No such webhook"}
}


def answers(model: type[BaseModel], description: str, status: int = 200) -> dict[str, Any]:
    """A route's typed success answer (the route builds the envelope itself)."""
    return {
        "response_model": None,
        "status_code": status,
        "responses": {status: {"model": model, "description": description}, **ADMIN_ONLY},
    }


def build_api(
    store: Callable[[], WebhookStore],
    now: Callable[[], datetime],
    check_target: Callable[[str], Awaitable[None]],
) -> APIRouter:
    """`check_target` raises ValueError for a URL the notifier would not call."""
    router = APIRouter(
        prefix="/api/v2/webhooks",
        tags=["webhooks"],
        route_class=EnvelopeRoute,
        responses=NO_WEBHOOK,
    )

    async def callable_target(url: str) -> None:
        try:
            await check_target(url)
        except ValueError as error:
            raise ApiError(422, "validation", f"Invalid request: url: {error}") from error

    async def admin(
        request: Request,
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ) -> AgentIdentity:
        """The gate (`infra.gate`) checked the token and the agent record; fails closed
        without it."""
        agent = getattr(request.state, "identity", None)
        if not isinstance(agent, AgentIdentity):
            raise ApiError(401, "unauthorized", "A valid bearer token is required")
        if not agent.admin:
            raise ApiError(403, "forbidden", "Only admins manage webhooks")
        return agent

    admin_only = Depends(admin)

    async def existing(webhook_id: str) -> Webhook:
        webhook = await store().get(webhook_id)
        if webhook is None:
            raise ApiError(404, "not_found", f"Webhook {webhook_id} not found")
        return webhook

    @router.post("", **answers(WebhookEnvelope, "Registered; `secret` is shown only here", 201))
    async def create_webhook(
        body: WebhookCreate, agent: Annotated[AgentIdentity, admin_only]
    ) -> dict[str, Any]:
        """Register an endpoint; the reply carries its signing secret, shown only now. The
        URL's host must resolve, to public addresses only (unless private targets are
        allowed)."""
        await callable_target(body.url)
        moment = now()
        webhook = Webhook(
            id=new_webhook_id(),
            url=body.url,
            events=body.events,
            secret=body.secret or new_secret(),
            active=body.active,
            description=body.description,
            created_by=agent.id,
            created_at=moment,
            updated_at=moment,
        )
        await store().add(webhook)
        return {"success": True, "data": webhook.view(with_secret=True)}

    @router.get("", **answers(WebhookListEnvelope, "Every webhook, without secrets"))
    async def list_webhooks(_: Annotated[AgentIdentity, admin_only]) -> dict[str, Any]:
        webhooks = await store().all()
        return {"success": True, "data": [w.view() for w in webhooks], "count": len(webhooks)}

    @router.get("/{webhook_id}", **answers(WebhookEnvelope, "The webhook, without its secret"))
    async def get_webhook(
        webhook_id: str, _: Annotated[AgentIdentity, admin_only]
    ) -> dict[str, Any]:
        return {"success": True, "data": (await existing(webhook_id)).view()}

    @router.put("/{webhook_id}", **answers(WebhookEnvelope, "The changed webhook"))
    async def update_webhook(
        webhook_id: str, body: WebhookUpdate, _: Annotated[AgentIdentity, admin_only]
    ) -> dict[str, Any]:
        """Change url, event filters, description or active; omitted fields stay."""
        if body.url is not None:
            await callable_target(body.url)
        fields = body.model_dump(by_alias=True, exclude_unset=True, exclude_none=True)
        updated = await store().update(webhook_id, {**fields, "updatedAt": now()})
        if updated is None:
            raise ApiError(404, "not_found", f"Webhook {webhook_id} not found")
        return {"success": True, "data": updated.view()}

    @router.post("/{webhook_id}/secret", **answers(WebhookEnvelope, "Rotated; the new `secret`"))
    async def rotate_webhook_secret(
        webhook_id: str, body: SecretRotation, _: Annotated[AgentIdentity, admin_only]
    ) -> dict[str, Any]:
        """A new signing secret, shown only now. For `overlapSeconds` (default a day) every
        delivery is signed with both (`v1=<new>,v1=<old>`), so the receiver can switch
        without losing one; then the old one stops."""
        moment = now()
        until = moment + timedelta(seconds=body.overlap_seconds)
        rotated = await store().rotate(webhook_id, body.secret or new_secret(), until, moment)
        if rotated is None:
            raise ApiError(404, "not_found", f"Webhook {webhook_id} not found")
        return {"success": True, "data": rotated.view(with_secret=True)}

    @router.delete("/{webhook_id}", **answers(DeletedEnvelope, "Removed"))
    async def delete_webhook(
        webhook_id: str, _: Annotated[AgentIdentity, admin_only]
    ) -> dict[str, Any]:
        if not await store().remove(webhook_id):
            raise ApiError(404, "not_found", f"Webhook {webhook_id} not found")
        return {"success": True, "data": {"id": webhook_id, "deleted": True}}

    _delivery_routes(router, store, now, admin_only, existing)
    return router


def _delivery_routes(
    router: APIRouter,
    store: Callable[[], WebhookStore],
    now: Callable[[], datetime],
    admin_only: Any,
    existing: Callable[[str], Awaitable[Webhook]],
) -> None:
    @router.get(
        "/{webhook_id}/deliveries", **answers(DeliveryListEnvelope, "One page, newest first")
    )
    async def list_webhook_deliveries(
        webhook_id: str,
        _: Annotated[AgentIdentity, admin_only],
        status: DeliveryStatus | None = None,
        page: Annotated[int, Query(ge=1)] = 1,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        """Newest first; `status=dead` lists the dead letters."""
        await existing(webhook_id)
        items, total = await store().deliveries_of(webhook_id, status, (page - 1) * limit, limit)
        return {
            "success": True,
            "data": [d.view() for d in items],
            "count": len(items),
            "pagination": {
                "page": page,
                "limit": limit,
                "total": total,
                "pages": math.ceil(total / limit),
            },
        }

    @router.post(
        "/{webhook_id}/deliveries/{delivery_id}/retry",
        **answers(DeliveryEnvelope, "The delivery, pending again"),
    )
    async def retry_webhook_delivery(
        webhook_id: str, delivery_id: str, _: Annotated[AgentIdentity, admin_only]
    ) -> dict[str, Any]:
        """Send a dead delivery again, with a fresh set of attempts."""
        delivery = await store().retry(webhook_id, delivery_id, now())
        if delivery is None:
            raise ApiError(404, "not_found", f"No dead delivery {delivery_id} on {webhook_id}")
        return {"success": True, "data": delivery.view()}
