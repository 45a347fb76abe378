"""Small ASGI helpers shared by the middlewares."""

from collections.abc import Callable

from starlette.types import Message, Send


class StatusRecordingSend:
    """Wraps `send`, remembering the response status (500 until a response starts) and
    letting the caller adjust the start message (headers) on its way out."""

    def __init__(self, send: Send, on_start: Callable[[Message], None] | None = None) -> None:
        self.status = 500
        self._send = send
        self._on_start = on_start

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            if self._on_start is not None:
                self._on_start(message)
        await self._send(message)
