"""HTTP routes of the WhatsApp channel.

- `GET /api/v2/whatsapp/webhook`: Meta's verification (`hub.mode=subscribe`,
  `hub.verify_token`, `hub.challenge`): answers the challenge as plain text, else 403.
- `POST /api/v2/whatsapp/webhook`: notifications, refused with 403 unless
  `X-Hub-Signature-256` matches the raw body (checked before it is parsed); 503 when
  MongoDB or RabbitMQ is away (Meta retries), 200 once everything is recorded.
- `GET /api/v2/whatsapp/media/{mediaId}`, `GET /api/v2/whatsapp/sends/{sendId}`,
  `GET /api/v2/whatsapp/customers/{phone}/window`: for agents (bearer JWT) and services
  (`X-API-Key` with the `tickets` scope), checked and rate limited by the gate.

The two webhook routes are public to the gate (`infra.gate.PUBLIC`): Meta authenticates
them with the verify token and the body's signature.
"""

import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import TypeAdapter, ValidationError
from pymongo.errors import PyMongoError

from contracts.actors import PhoneNumber
from contracts.rest import ErrorEnvelope
from infra.identity import AgentIdentity, ServiceIdentity
from infra.rest import ApiError, envelope_route, failure
from infra.settings import WhatsAppSettings
from services.whatsapp_channel import metrics
from services.whatsapp_channel.api_models import ReceiptEnvelope, SendEnvelope, WindowEnvelope
from services.whatsapp_channel.domain.signature import SIGNATURE_HEADER, valid_signature
from services.whatsapp_channel.graph import GraphUnavailable, MediaInfo, MediaNotFound
from services.whatsapp_channel.parts import ChannelParts, Parts
from services.whatsapp_channel.relay import BrokerUnavailable

log = logging.getLogger(__name__)

PREFIX = "/api/v2/whatsapp"
NOT_CONFIGURED = f"The WhatsApp channel is off: set {', '.join(WhatsAppSettings().missing())}"
PHONE = TypeAdapter[str](PhoneNumber)


def _unavailable(error: PyMongoError) -> Response:
    log.warning("whatsapp route: MongoDB unavailable", extra={"error": str(error)[:300]})
    return failure(503, "unavailable", "Storage unavailable, try again")


EnvelopeRoute = envelope_route([(PyMongoError, _unavailable)])


OFF: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorEnvelope,
        "description": "The channel is off (`not_configured`), or "
        "storage or the broker is away (`unavailable`; Meta retries)",
    }
}


def _ok(data: object) -> JSONResponse:
    return JSONResponse({"success": True, "data": data})


def build_api(parts: Parts) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["whatsapp"], route_class=EnvelopeRoute)

    def started() -> ChannelParts:
        channel = parts()
        if channel is None:
            raise ApiError(503, "not_configured", NOT_CONFIGURED)
        return channel

    @router.get(
        "/webhook",
        response_class=PlainTextResponse,
        responses={
            200: {"description": "The challenge, as plain text"},
            403: {"model": ErrorEnvelope, "description": "Wrong mode or verify token"},
            **OFF,
        },
        openapi_extra={"security": [{"metaVerifyToken": []}]},
    )
    async def verify_whatsapp_webhook(
        mode: Annotated[str | None, Query(alias="hub.mode")] = None,
        token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
        challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=1000)] = None,
    ) -> Response:
        """Meta calls this once when the callback URL is registered."""
        return await _verify(started(), mode, token, challenge)

    @router.post(
        "/webhook",
        response_model=None,
        responses={
            200: {"model": ReceiptEnvelope, "description": "Recorded"},
            400: {"model": ErrorEnvelope, "description": "The body is not JSON"},
            403: {"model": ErrorEnvelope, "description": "Missing or wrong signature"},
            **OFF,
        },
        openapi_extra={"security": [{"metaSignature": []}]},
    )
    async def receive_whatsapp_webhook(request: Request) -> Response:
        """WhatsApp notifications: customer messages and delivery reports."""
        return await _receive(started(), request)

    @router.get(
        "/media/{media_id}",
        response_model=None,
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "The file's bytes, with WhatsApp's content type",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            },
            404: {"model": ErrorEnvelope, "description": "Unknown here, or gone at WhatsApp"},
            413: {
                "model": ErrorEnvelope,
                "description": "Over `TICKETS_WHATSAPP__MEDIA_MAX_BYTES`",
            },
            502: {"model": ErrorEnvelope, "description": "WhatsApp did not answer"},
            **OFF,
        },
    )
    async def get_whatsapp_media(media_id: str, request: Request) -> Response:
        """The bytes of a media id that came in on the webhook, fetched from WhatsApp."""
        return await _media(started(), media_id, request)

    @router.get(
        "/sends/{send_id}",
        response_model=None,
        responses={
            200: {"model": SendEnvelope, "description": "The outbound message"},
            404: {"model": ErrorEnvelope, "description": "No outbound message with this id"},
            **OFF,
        },
    )
    async def get_whatsapp_send(send_id: str, request: Request) -> Response:
        """One outbound message: state, attempts, last error, WhatsApp's delivery report."""
        return await _send(started(), send_id, request)

    @router.get(
        "/customers/{phone}/window",
        response_model=None,
        responses={
            200: {"model": WindowEnvelope, "description": "The customer's window now"},
            422: {"model": ErrorEnvelope, "description": "Not an E.164 phone number"},
            **OFF,
        },
    )
    async def get_whatsapp_window(phone: str, request: Request) -> Response:
        """Whether free-form messages reach this customer now, and until when."""
        return await _window(started(), phone, request)

    return router


async def _verify(
    channel: ChannelParts, mode: str | None, token: str | None, challenge: str | None
) -> Response:
    expected = (channel.options.verify_token or "").encode()
    given = (token or "").encode("utf-8", "surrogateescape")
    if mode != "subscribe" or challenge is None or not hmac.compare_digest(given, expected):
        log.warning("webhook verification refused", extra={"mode": mode})
        raise ApiError(403, "forbidden", "Verification token does not match")
    log.info("webhook verified by Meta")
    return PlainTextResponse(challenge)


async def _receive(channel: ChannelParts, request: Request) -> Response:
    body = await request.body()
    secret = channel.options.app_secret or ""
    if not valid_signature(secret, request.headers.get(SIGNATURE_HEADER), body):
        metrics.WEBHOOKS.labels("bad_signature").inc()
        log.warning("webhook refused: bad signature", extra={"bytes": len(body)})
        raise ApiError(403, "forbidden", f"Missing or wrong {SIGNATURE_HEADER}")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        metrics.WEBHOOKS.labels("malformed").inc()
        raise ApiError(400, "validation", f"Body is not JSON: {error}") from error
    try:
        receipt = await channel.intake.receive(payload)
    except (BrokerUnavailable, PyMongoError) as error:
        metrics.WEBHOOKS.labels("unavailable").inc()
        log.warning("webhook not accepted, Meta will retry", extra={"error": str(error)[:300]})
        raise ApiError(503, "unavailable", "Not recorded yet; retry later") from error
    metrics.WEBHOOKS.labels("accepted").inc()
    return _ok(receipt.to_wire())


async def _authenticate(_: ChannelParts, request: Request) -> None:
    """The gate (`infra.gate`) checked the agent's token or the service key (and counted
    the request) before the route ran; this fails closed without it."""
    if not isinstance(getattr(request.state, "identity", None), AgentIdentity | ServiceIdentity):
        raise ApiError(401, "unauthorized", "Missing credentials", {"WWW-Authenticate": "Bearer"})


async def _media(channel: ChannelParts, media_id: str, request: Request) -> Response:
    await _authenticate(channel, request)
    record = await channel.inbox.media_record(media_id)
    if record is None:
        raise ApiError(404, "not_found", "No media with this id came in on WhatsApp")
    try:
        info = await channel.graph.media_info(media_id)
    except MediaNotFound as error:
        raise ApiError(404, "not_found", "WhatsApp no longer has this media") from error
    except GraphUnavailable as error:
        raise ApiError(502, "bad_gateway", f"WhatsApp did not answer: {error}") from error
    limit = channel.options.media_max_bytes
    if info.file_size is not None and info.file_size > limit:
        raise ApiError(413, "payload_too_large", f"The media is over {limit} bytes")
    return await _stream(channel, info, record, limit)


async def _stream(
    channel: ChannelParts, info: MediaInfo, record: dict[str, Any], limit: int
) -> Response:
    stack = AsyncExitStack()
    try:
        upstream = await stack.enter_async_context(channel.graph.download(info.url))
    except (MediaNotFound, GraphUnavailable) as error:
        await stack.aclose()
        raise ApiError(502, "bad_gateway", f"Download failed: {error}") from error

    async def chunks() -> AsyncIterator[bytes]:
        sent = 0
        try:
            async for chunk in upstream.aiter_bytes():
                sent += len(chunk)
                if sent > limit:
                    log.warning("media download cut at the size limit", extra={"limit": limit})
                    return
                yield chunk
        finally:
            await stack.aclose()

    mime = info.mime_type or record.get("mimeType") or "application/octet-stream"
    headers = {}
    if filename := record.get("filename"):
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return StreamingResponse(chunks(), media_type=mime, headers=headers)


async def _send(channel: ChannelParts, send_id: str, request: Request) -> Response:
    await _authenticate(channel, request)
    record = await channel.sends.get(send_id)
    if record is None:
        raise ApiError(404, "not_found", "No outbound message with this id")
    return _ok(record.view())


async def _window(channel: ChannelParts, phone: str, request: Request) -> Response:
    await _authenticate(channel, request)
    try:
        number = PHONE.validate_python(phone)
    except ValidationError as error:
        raise ApiError(422, "validation", "phone must be in E.164 form") from error
    state = await channel.worker.window_of(number)
    return _ok({"phone": number, **state.to_wire()})
