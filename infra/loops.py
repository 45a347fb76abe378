"""Background loops, written once for every service: a round now (or after the first
pause, `wait_first`), then again after `interval` seconds, or as soon as `wake` is set
(new work arrived), until `stop` is set. A failing round is logged and the next round
retries.

While a dependency is away a loop fails every round; `FailureLog` keeps that to one
warning line naming the dependency and the error, then at most one a minute with the
count, and one info line when a round succeeds again. Only an error that is not a
dependency's (a bug) carries its traceback, on the first line of the streak."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from infra.clock import Clock, SystemClock

log = logging.getLogger(__name__)

REPEAT_EVERY = timedelta(minutes=1)
DEPENDENCIES = (
    ("aio_pika", "RabbitMQ"),
    ("aiormq", "RabbitMQ"),
    ("pamqp", "RabbitMQ"),
    ("faststream", "RabbitMQ"),
    ("pymongo", "MongoDB"),
    ("bson", "MongoDB"),
    ("httpx", "HTTP"),
    ("httpcore", "HTTP"),
)
"""Module prefix of an exception (or of its cause) -> the dependency it speaks for."""


def dependency_of(error: BaseException) -> str | None:
    """The dependency an error (or the error it was raised from) comes from; None for one
    of ours. A bare lost connection or timeout is a dependency's, unnamed."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        module = type(current).__module__
        for prefix, name in DEPENDENCIES:
            if module == prefix or module.startswith(prefix + "."):
                return name
        if isinstance(current, ConnectionError | TimeoutError):
            return "a connection"
        current = current.__cause__ or current.__context__
    return None


class FailureLog:
    """What one loop says about its failing rounds, rate-limited by `clock`."""

    def __init__(self, name: str, clock: Clock, repeat_every: timedelta = REPEAT_EVERY) -> None:
        self._name = name
        self._clock = clock
        self._repeat_every = repeat_every
        self._failures = 0
        self._unlogged = 0
        self._since: datetime | None = None
        self._last_logged: datetime | None = None

    def failed(self, error: Exception) -> None:
        now = self._clock.now()
        self._failures += 1
        self._unlogged += 1
        if self._since is None:
            self._since = now
        elif self._last_logged is not None and now - self._last_logged < self._repeat_every:
            return
        dependency = dependency_of(error)
        extra = {
            "loop": self._name,
            "dependency": dependency,
            "error": f"{type(error).__name__}: {error}"[:300],
            "failures": self._unlogged,
            "failingSince": self._since.isoformat(),
        }
        if dependency is not None:
            log.warning("background round failed: %s unavailable", dependency, extra=extra)
        else:
            log.warning(
                "background round failed",
                extra=extra,
                exc_info=error if self._failures == 1 else None,
            )
        self._unlogged = 0
        self._last_logged = now

    def succeeded(self) -> None:
        if self._since is None:
            return
        log.info(
            "background round recovered",
            extra={
                "loop": self._name,
                "failures": self._failures,
                "failingSince": self._since.isoformat(),
            },
        )
        self._failures = self._unlogged = 0
        self._since = self._last_logged = None


async def every(
    interval: float,
    stop: asyncio.Event,
    work: Callable[[], Awaitable[object]],
    name: str,
    wake: asyncio.Event | None = None,
    *,
    wait_first: bool = False,
    clock: Clock | None = None,
) -> None:
    wake = wake or asyncio.Event()
    failures = FailureLog(name, clock or SystemClock())
    if wait_first and await pause(interval, stop, wake):
        return
    while not stop.is_set():
        wake.clear()
        try:
            await work()
        except Exception as error:  # noqa: BLE001 - logged by `failures`; the next round retries
            failures.failed(error)
        else:
            failures.succeeded()
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
