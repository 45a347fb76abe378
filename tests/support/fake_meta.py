"""Meta's side of WhatsApp for tests: a local HTTP server playing the Graph API (send
message, media lookup, media bytes) and helpers that build and sign webhooks like Meta."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from services.whatsapp_channel.domain.signature import SIGNATURE_HEADER, sign
from tests.support.waiting import eventually

VERSION = "v23.0"
PHONE_NUMBER_ID = "106540352242922"
TOKEN = "graph-test-token"
APP_SECRET = "meta-app-secret-for-tests"
VERIFY_TOKEN = "verify-me-please"


@dataclass(frozen=True)
class Answer:
    """A scripted answer to the next send request."""

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    """Never answer (until the server stops): the caller's timeout or death decides."""


@dataclass
class FakeGraph:
    url: str = ""
    script: deque[Answer] = field(default_factory=deque)
    sends: list[dict[str, Any]] = field(default_factory=list)
    """Every send request body, in arrival order."""
    accepted: list[dict[str, Any]] = field(default_factory=list)
    """The ones answered 2xx, with the WhatsApp id they got as `wamid`."""
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    unauthorized: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the server stops: hanging requests end then."""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, *answers: Answer) -> None:
        self.script.extend(answers)

    def for_id(self, send_id: str) -> list[dict[str, Any]]:
        return [s for s in self.sends if s.get("biz_opaque_callback_data") == send_id]

    def accepted_for(self, send_id: str) -> list[dict[str, Any]]:
        return [s for s in self.accepted if s.get("biz_opaque_callback_data") == send_id]

    async def wait_sends(self, send_id: str, count: int, timeout: float = 30) -> None:
        await eventually(
            lambda: len(self.for_id(send_id)) >= count,
            what=f"{count} sends of {send_id} at the fake Graph API",
            timeout=timeout,
            wake=self.arrived,
        )

    def _authorized(self, request: web.Request) -> bool:
        if request.headers.get("Authorization") == f"Bearer {TOKEN}":
            return True
        self.unauthorized += 1
        return False

    async def _send(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": {"code": 190, "message": "bad token"}}, status=401)
        body = await request.json()
        self.sends.append(body)
        self.arrived.set()
        answer = self.script.popleft() if self.script else Answer(200)
        if answer.hang:
            await self.release.wait()
            return web.Response(status=503)
        if 200 <= answer.status < 300 and answer.body is None:
            wamid = f"wamid.fake{next(self._ids)}"
            self.accepted.append({**body, "wamid": wamid})
            payload: dict[str, Any] = {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                "messages": [{"id": wamid}],
            }
            return web.json_response(payload, status=answer.status, headers=answer.headers)
        return web.json_response(answer.body or {}, status=answer.status, headers=answer.headers)

    async def _media_info(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": {"code": 190}}, status=401)
        media_id = request.match_info["media_id"]
        if media_id not in self.media:
            return web.json_response({"error": {"code": 100, "message": "no media"}}, status=404)
        data, mime = self.media[media_id]
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "url": f"{self.url}/download/{media_id}",
                "mime_type": mime,
                "file_size": len(data),
                "id": media_id,
            }
        )

    async def _download(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401)
        data, mime = self.media[request.match_info["media_id"]]
        return web.Response(body=data, content_type=mime.split(";")[0])


@asynccontextmanager
async def fake_graph() -> AsyncIterator[FakeGraph]:
    graph = FakeGraph()
    app = web.Application()
    app.router.add_post(f"/{VERSION}/{PHONE_NUMBER_ID}/messages", graph._send)
    app.router.add_get(f"/{VERSION}/{{media_id}}", graph._media_info)
    app.router.add_get("/download/{media_id}", graph._download)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    graph.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield graph
    finally:
        graph.release.set()
        await runner.cleanup()


# Webhook payloads, shaped as Meta sends them.


def notification(*changes: dict[str, Any], entries: int = 1) -> dict[str, Any]:
    """`changes` spread over `entries` entries (round robin)."""
    spread: list[list[dict[str, Any]]] = [[] for _ in range(entries)]
    for index, change in enumerate(changes):
        spread[index % entries].append(change)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": f"WABA{n}", "changes": chunk} for n, chunk in enumerate(spread)],
    }


def change(
    messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    names: dict[str, str] | None = None,
    phone_number_id: str = PHONE_NUMBER_ID,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
    }
    if names:
        value["contacts"] = [
            {"profile": {"name": name}, "wa_id": wa_id.removeprefix("+")}
            for wa_id, name in names.items()
        ]
    if messages is not None:
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {"field": "messages", "value": value}


def _message(message_id: str, sender: str, kind: str, timestamp: int) -> dict[str, Any]:
    return {
        "from": sender.removeprefix("+"),
        "id": message_id,
        "timestamp": str(timestamp),
        "type": kind,
    }


def text(message_id: str, sender: str, body: str, timestamp: int) -> dict[str, Any]:
    return {**_message(message_id, sender, "text", timestamp), "text": {"body": body}}


def image(
    message_id: str, sender: str, media_id: str, timestamp: int, caption: str | None = None
) -> dict[str, Any]:
    media = {"id": media_id, "mime_type": "image/jpeg", "sha256": "c2hhMjU2"}
    if caption:
        media["caption"] = caption
    return {**_message(message_id, sender, "image", timestamp), "image": media}


def document(
    message_id: str, sender: str, media_id: str, filename: str, timestamp: int
) -> dict[str, Any]:
    media = {"id": media_id, "mime_type": "application/pdf", "filename": filename}
    return {**_message(message_id, sender, "document", timestamp), "document": media}


def location(message_id: str, sender: str, timestamp: int) -> dict[str, Any]:
    place = {"latitude": 40.4168, "longitude": -3.7038, "name": "Puerta del Sol"}
    return {**_message(message_id, sender, "location", timestamp), "location": place}


def contacts(message_id: str, sender: str, timestamp: int) -> dict[str, Any]:
    card = {
        "name": {"formatted_name": "Ana Pérez", "first_name": "Ana"},
        "phones": [{"phone": "+34 600 000 009", "wa_id": "34600000009", "type": "CELL"}],
    }
    return {**_message(message_id, sender, "contacts", timestamp), "contacts": [card]}


def status(
    wamid: str,
    recipient: str,
    state: str,
    timestamp: int,
    callback_data: str | None = None,
    error_code: int | None = None,
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "id": wamid,
        "status": state,
        "timestamp": str(timestamp),
        "recipient_id": recipient.removeprefix("+"),
    }
    if callback_data:
        report["biz_opaque_callback_data"] = callback_data
    if error_code is not None:
        report["errors"] = [
            {
                "code": error_code,
                "title": "Message undeliverable",
                "message": "Message undeliverable",
                "error_data": {"details": "The recipient cannot receive this message"},
            }
        ]
    return report


def signed(payload: dict[str, Any], secret: str = APP_SECRET) -> tuple[bytes, dict[str, str]]:
    """The body and headers of Meta's POST."""
    body = json.dumps(payload).encode()
    return body, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body)}
