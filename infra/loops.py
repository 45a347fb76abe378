"""Background loops, written once for every service: a round now (or after the first
pause, `wait_first`), then again after `interval` seconds, or as soon as `wake` is set
(new work arrived), until `stop` is set. A failing round is logged and the next round
retries; a lost connection or a timeout is logged without its traceback."""

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
    *,
    wait_first: bool = False,
) -> None:
    wake = wake or asyncio.Event()
    if wait_first and await pause(interval, stop, wake):
        return
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
        await pause(interval, stop, wake)


async def pause(seconds: float, stop: asyncio.Event, wake: asyncio.Event | None = None) -> bool:
    """Waits `seconds`, less when `stop` (or `wake`) is set; True when `stop` is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            if wake is None:
                await stop.wait()
            else:
                await _either(stop, wake)
    return stop.is_set()


async def _either(first: asyncio.Event, second: asyncio.Event) -> None:
    waits = [asyncio.create_task(first.wait()), asyncio.create_task(second.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
