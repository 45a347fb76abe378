"""Serving a runtime over HTTP the way an operator expects: the port is taken before
anything consumes a queue (a port in use stops the process before it touches RabbitMQ),
"listening" is printed once the server listens, and SIGINT/SIGTERM stop everything within
a few seconds with unfinished messages left to RabbitMQ."""

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from infra.runtime import Runtime
from infra.startup import StartupError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
HTTP_GRACE_SECONDS = 1
"""Open HTTP connections (long-polling Socket.IO clients too) get this long to finish."""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or a StartupError naming the settings to change."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise StartupError(
            f"TICKETS_HTTP_HOST={host!r} is not an address of this machine: {error.strerror}"
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise StartupError(
            f"cannot listen on {host}:{port}: {error.strerror}; choose another port with "
            "TICKETS_HTTP_PORT or --port"
        ) from None
    return sock


class _Server(uvicorn.Server):
    """uvicorn on a socket we bound, telling us once it listens; signals are ours."""

    def __init__(self, config: uvicorn.Config, on_listening: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_listening = on_listening

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            self._on_listening()


async def serve(
    runtime: Runtime, app: ASGIApp, sock: socket.socket, on_listening: Callable[[], None]
) -> None:
    """Start the runtime, serve `app` on `sock` until a stop signal, stop everything.

    Raises StartupError when a dependency does not answer (after cleaning up)."""
    stop = asyncio.Event()
    with _stop_on_signals(stop):
        try:
            if await _first(runtime.start(), stop):
                await _serve_until(app, sock, stop, on_listening)
        finally:
            await runtime.stop()
            sock.close()


async def _first(start: Coroutine[Any, Any, object], stop: asyncio.Event) -> bool:
    """Runs `start` unless a stop signal comes first; True when it finished."""
    starting = asyncio.ensure_future(start)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not starting.done():
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        return False
    starting.result()
    return True


async def _serve_until(
    app: ASGIApp, sock: socket.socket, stop: asyncio.Event, on_listening: Callable[[], None]
) -> None:
    config = uvicorn.Config(
        app,
        lifespan="off",  # the runtime is already started
        log_config=None,
        timeout_graceful_shutdown=HTTP_GRACE_SECONDS,
    )
    server = _Server(config, on_listening)
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    server.should_exit = True
    await serving


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    try:
        yield
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
