"""Background loops: do the work now, then every `interval` seconds until `stop` is set.
A failing round is logged and the loop goes on (the next round retries)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def every(
    interval: float, stop: asyncio.Event, work: Callable[[], Awaitable[object]], name: str
) -> None:
    while not stop.is_set():
        try:
            await work()
        except Exception:
            log.exception("background round failed", extra={"loop": name})
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except TimeoutError:
            continue
