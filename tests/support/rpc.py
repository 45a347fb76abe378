"""A request/reply client with any number of requests in flight (FastStream's `request`
holds a lock, one request at a time per connection, which is no load at all).

One connection, one exclusive reply queue, replies matched by correlation id. When the
connection is lost (a fault test cuts it), pending requests end without an answer and the
next request connects again, as a real client that retries would."""

import asyncio
import contextlib
import json
import uuid
from typing import Any

import aio_pika


class RpcClient:
    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._reply_queue = ""
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._connecting = asyncio.Lock()

    async def request(self, queue: str, body: bytes, timeout: float) -> dict[str, Any] | None:
        """The decoded reply, or None when none came in time (or the broker is away)."""
        try:
            channel = await self._ready()
            correlation_id = uuid.uuid4().hex
            answer = asyncio.get_running_loop().create_future()
            self._pending[correlation_id] = answer
            try:
                message = aio_pika.Message(
                    body,
                    correlation_id=correlation_id,
                    reply_to=self._reply_queue,
                    content_type="application/json",
                )
                await channel.default_exchange.publish(message, routing_key=queue)
                return await asyncio.wait_for(answer, timeout)
            finally:
                self._pending.pop(correlation_id, None)
        except Exception:
            return None

    async def _ready(self) -> aio_pika.abc.AbstractChannel:
        async with self._connecting:
            if self._channel is not None and not self._channel.is_closed:
                return self._channel
            await self._drop()
            self._connection = await aio_pika.connect(self._url, timeout=5)
            self._channel = await self._connection.channel()
            queue = await self._channel.declare_queue(exclusive=True, auto_delete=True)
            self._reply_queue = queue.name
            await queue.consume(self._on_reply, no_ack=True)
            return self._channel

    async def _on_reply(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        answer = self._pending.get(message.correlation_id or "")
        if answer is not None and not answer.done():
            answer.set_result(json.loads(message.body))

    async def _drop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    async def close(self) -> None:
        async with self._connecting:
            await self._drop()
