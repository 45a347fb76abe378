"""The one way a test waits: `eventually(probe)` until the probe holds.

A probe returns its finding (a truthy value ends the wait and is returned) or raises
`AssertionError` (kept as the reason, and the wait goes on). Between tries the wait sleeps
`interval`, or less when `wake` (an `asyncio.Event` the thing being watched sets) fires.
On timeout it fails with an `AssertionError` that says what was awaited and the last
finding, instead of a bare `TimeoutError`.

No test proves an absence by sleeping: it waits for a positive marker that comes after
everything it wants to rule out (see `EventLog.barrier` in tests/support/system.py), then
looks.
"""

import asyncio
import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import overload

WAIT_SECONDS = 60.0
"""How long a wait may take before the test fails. Generous: the machines are shared and
slow at times; a wait that holds returns as soon as it holds."""

INTERVAL_SECONDS = 0.05


@overload
async def eventually[T](
    probe: Callable[[], Awaitable[T | None]],
    *,
    what: str,
    timeout: float = ...,
    interval: float = ...,
    wake: asyncio.Event | None = ...,
) -> T: ...
@overload
async def eventually[T](
    probe: Callable[[], T | None],
    *,
    what: str,
    timeout: float = ...,
    interval: float = ...,
    wake: asyncio.Event | None = ...,
) -> T: ...
async def eventually(
    probe: Callable[[], object],
    *,
    what: str,
    timeout: float = WAIT_SECONDS,
    interval: float = INTERVAL_SECONDS,
    wake: asyncio.Event | None = None,
) -> object:
    """Call `probe` until it returns a truthy value, and return that value."""
    deadline = time.monotonic() + timeout
    last: object = None
    reason: AssertionError | None = None
    while True:
        if wake is not None:
            wake.clear()  # anything that happens from here on wakes the next wait
        try:
            found = probe()
            if inspect.isawaitable(found):
                found = await found
        except AssertionError as error:
            reason, last = error, None
        else:
            if found:
                return found
            reason, last = None, found
        left = deadline - time.monotonic()
        if left <= 0:
            detail = f"{reason}" if reason is not None else f"last finding {last!r}"
            raise AssertionError(f"waited {timeout:g} s for {what}: {detail}") from reason
        pause = min(interval, left)
        if wake is None:
            await asyncio.sleep(pause)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), pause)


async def at_least(count: Awaitable[int], floor: int) -> bool:
    """A probe of a count read anew each try: `eventually(lambda: at_least(depth(), n))`."""
    return await count >= floor
