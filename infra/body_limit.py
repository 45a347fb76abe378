"""Refuse request bodies over a size limit before any route reads them (413, envelope)."""

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.rest import envelope_bytes


class BodyLimit:
    """A declared `Content-Length` over the limit is refused at once; a body of unknown
    length (chunked) is read up to the limit first and replayed to the app if it fits.
    The HTTP server itself refuses a body longer than its declared length."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            if declared > self.max_bytes:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        buffered = await self._read_within_limit(receive)
        if buffered is None:
            await self._refuse(send)
            return
        await self.app(scope, _replay(buffered, receive), send)

    async def _read_within_limit(self, receive: Receive) -> list[Message] | None:
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return None
            if not message.get("more_body", False):
                return messages

    async def _refuse(self, send: Send) -> None:
        body = envelope_bytes(
            "payload_too_large", f"Request body larger than {self.max_bytes} bytes"
        )
        headers: list[Any] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replaying_receive() -> Message:
        return pending.pop(0) if pending else await receive()

    return replaying_receive


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
