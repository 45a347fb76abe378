"""The channel's background loops: a round now, then again after `interval` seconds, or
as soon as `wake` is set (new work arrived), until `stop` is set. A failing round is
logged and the next one retries."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def every(
    interval: float,
    stop: asyncio.Event,
    work: Callable[[], Awaitable[object]],
    name: str,
    wake: asyncio.Event | None = None,
) -> None:
    wake = wake or asyncio.Event()
    while not stop.is_set():
        wake.clear()
        try:
            await work()
        except Exception as error:
            log.warning(
                "background round failed",
                extra={"loop": name, "error": f"{type(error).__name__}: {error}"[:300]},
                exc_info=not isinstance(error, ConnectionError | TimeoutError),
            )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await _either(stop, wake)


async def _either(first: asyncio.Event, second: asyncio.Event) -> None:
    waits = [asyncio.create_task(first.wait()), asyncio.create_task(second.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
