"""The demo's progress display: one numbered line per step, finished with `ok` and its
time, what the step showed indented below it; a step that does not happen within its
bound ends the run with one line naming it."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TextIO


class StepFailed(Exception):
    """What went wrong, in one line for the person running the demo."""


async def eventually[T](check: Callable[[], Awaitable[T | None]], every: float = 0.2) -> T:
    """Asks `check` until it answers something (the caller bounds the wait)."""
    while True:
        found = await check()
        if found is not None:
            return found
        await asyncio.sleep(every)


@dataclass
class Progress:
    total: int
    out: TextIO
    bound: float
    """Seconds each step may take."""
    number: int = 0
    _in_step: bool = False
    _details: list[str] = field(default_factory=list)

    async def step[T](self, title: str, work: Callable[[], Awaitable[T]]) -> T:
        """Runs one step within the bound; StepFailed names the step when it does not
        happen (its own reason, or the bound)."""
        self.number += 1
        self._write(f"[{self.number:>2}/{self.total}] {title} ... ")
        self._in_step, started = True, time.perf_counter()
        try:
            async with asyncio.timeout(self.bound):
                result = await work()
        except TimeoutError:
            self._end("FAILED")
            raise self._failed(title, f"did not happen within {self.bound:g} s") from None
        except StepFailed as error:
            self._end("FAILED")
            raise self._failed(title, str(error)) from None
        except Exception as error:  # the system went away mid-step, or answered oddly
            self._end("FAILED")
            reason = f"{type(error).__name__}: {error}"
            raise self._failed(title, reason) from error
        self._end(f"ok ({time.perf_counter() - started:.1f} s)")
        return result

    def detail(self, text: str) -> None:
        """Shown indented under the step's line once the step ends."""
        self._details.append(text)
        if not self._in_step:
            self._end(None)

    def line(self, text: str) -> None:
        self._write(f"{text}\n")

    def _end(self, verdict: str | None) -> None:
        if verdict is not None:
            self._write(f"{verdict}\n")
            self._in_step = False
        for text in self._details:
            self._write(f"        {text}\n")
        self._details.clear()

    def _failed(self, title: str, reason: str) -> StepFailed:
        return StepFailed(f"demo step {self.number}/{self.total} ({title}): {reason}")

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
