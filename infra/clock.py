"""Clocks: the system clock for production, a movable one for tests.

Times are UTC and cut to whole milliseconds, MongoDB's precision, so what is read back
equals what was computed.
"""

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


def _to_millis(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class SystemClock:
    def now(self) -> datetime:
        return _to_millis(datetime.now(UTC))


class MovableClock:
    """A clock tests move by hand; it never moves by itself."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._now = _to_millis(start.astimezone(UTC))

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now = _to_millis(self._now + delta)
        return self._now

    def set(self, moment: datetime) -> datetime:
        self._now = _to_millis(moment.astimezone(UTC))
        return self._now


class OffsetClock:
    """The system clock, moved forward by hand: `tickets up --demo` only, so a demo can
    show what a day later looks like (auto-close) without waiting a day. It only moves
    forward while the process runs; a restart starts from the real time again."""

    def __init__(self, base: Clock | None = None) -> None:
        self._base = base or SystemClock()
        self._offset = timedelta(0)

    @property
    def offset(self) -> timedelta:
        return self._offset

    def now(self) -> datetime:
        return _to_millis(self._base.now() + self._offset)

    def advance(self, delta: timedelta) -> datetime:
        if delta <= timedelta(0):
            raise ValueError("the clock only moves forward")
        self._offset += delta
        return self.now()
