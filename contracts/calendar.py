"""Business-hours calendar for SLA due times.

Pure: no I/O and no clock reads. Every datetime passed in must be timezone-aware; every
datetime returned is aware and in UTC.

Working time is measured in elapsed real time. Each interval boundary is a wall-clock time
in the calendar's zone, placed on the timeline at the first instant the local clock reads
that time or later. So across a DST change a 09:00-18:00 day is still nine hours; a boundary
the clocks skip (spring forward) lands on the instant of the jump; a boundary the clocks
show twice (fall back) means its first occurrence.

An interval runs until midnight when its end is written "24:00" (or "00:00"); it is stored
as ``time(0, 0)`` and exported back as "24:00". Intervals never cross midnight: split a night
shift over two weekdays.
"""

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

MAX_SEARCH_DAYS = 3700
"""How many local days a computation may walk before giving up (about ten years)."""

_MIDNIGHT_SPELLINGS = frozenset({"24:00", "24:00:00"})
_ONE_DAY = timedelta(days=1)
_RESOLUTION = timedelta(microseconds=1)

type Span = tuple[datetime, datetime]


class WorkingInterval(BaseModel):
    """One span of working time within a local day, ``[start, end)``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time = Field(description="Local wall-clock start.", examples=["09:00"])
    end: time = Field(
        description='Local wall-clock end; "24:00" (or "00:00") means until midnight.',
        examples=["18:00", "24:00"],
    )

    @field_validator("end", mode="before")
    @classmethod
    def _accept_24_00(cls, value: object) -> object:
        if isinstance(value, str) and value.strip() in _MIDNIGHT_SPELLINGS:
            return time(0)
        return value

    @model_validator(mode="after")
    def _check_order(self) -> Self:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("interval times are local wall-clock times: drop the UTC offset")
        if self.end_offset <= self.start_offset:
            raise ValueError(f"interval end {self.end} must be after its start {self.start}")
        return self

    @field_serializer("end", when_used="json")
    def _export_end(self, end: time) -> str:
        return "24:00" if self.until_midnight else end.isoformat()

    @property
    def until_midnight(self) -> bool:
        return self.end == time(0)

    @property
    def start_offset(self) -> timedelta:
        """Wall-clock distance from the local midnight that opens the day."""
        return _offset(self.start)

    @property
    def end_offset(self) -> timedelta:
        return _ONE_DAY if self.until_midnight else _offset(self.end)


class BusinessCalendar(BaseModel):
    """Weekly working hours in one time zone, minus whole-day local holidays."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = Field(default="UTC", description="IANA time zone name.")
    weekly_hours: dict[int, list[WorkingInterval]] = Field(
        description="Working intervals per weekday, 0 = Monday .. 6 = Sunday.",
        examples=[{"0": [{"start": "09:00", "end": "18:00"}]}],
    )
    holidays: frozenset[date] = Field(
        default=frozenset(), description="Local dates with no working time."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as error:
            raise ValueError(f"unknown IANA time zone {value!r}") from error
        return value

    @field_validator("weekly_hours")
    @classmethod
    def _valid_week(
        cls, value: dict[int, list[WorkingInterval]]
    ) -> dict[int, list[WorkingInterval]]:
        for weekday in value:
            if not 0 <= weekday <= 6:
                raise ValueError(f"weekday key {weekday} is not 0 (Monday) .. 6 (Sunday)")
        if not any(value.values()):
            raise ValueError("weekly_hours needs at least one working interval")
        return {weekday: _sorted_disjoint(weekday, value[weekday]) for weekday in sorted(value)}

    @classmethod
    def weekdays(
        cls,
        start: str | time = "09:00",
        end: str | time = "18:00",
        timezone: str = "UTC",
        holidays: Iterable[date] = (),
    ) -> Self:
        """Monday to Friday, the same hours every day."""
        interval = WorkingInterval.model_validate({"start": start, "end": end})
        return cls(
            timezone=timezone,
            weekly_hours={weekday: [interval] for weekday in range(5)},
            holidays=frozenset(holidays),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches instances per name

    def is_working_time(self, at: datetime) -> bool:
        return self.next_working_moment(at) == _as_utc(at)

    def next_working_moment(self, at: datetime) -> datetime:
        """`at` itself when it is working time, else the start of the next working span."""
        span_start, _ = next(self._spans_from(_as_utc(at)))
        return span_start

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest moment by which `duration` of working time has elapsed since `start`.

        Being the earliest, a zero duration returns `start` itself and a count that fills
        a span exactly ends at that span's close (Friday 18:00, not Monday 09:00).
        """
        begin = _as_utc(start)
        remaining = _non_negative(duration)
        if not remaining:
            return begin
        for span_start, span_end in self._spans_from(begin):
            if span_end - span_start >= remaining:
                return span_start + remaining
            remaining -= span_end - span_start
        raise AssertionError("unreachable: _spans_from raises rather than ending")

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        return sum(
            (span_end - span_start for span_start, span_end in self.working_spans(start, end)),
            timedelta(0),
        )

    def working_spans(self, start: datetime, end: datetime) -> list[Span]:
        """The working parts of ``[start, end)`` in UTC, touching spans merged."""
        begin, finish = _as_utc(start), _as_utc(end)
        spans: list[Span] = []
        if finish <= begin:
            return spans
        for span_start, span_end in self._spans_from(begin):
            if span_start >= finish:
                break
            clipped_end = min(span_end, finish)
            if spans and spans[-1][1] == span_start:
                spans[-1] = (spans[-1][0], clipped_end)
            else:
                spans.append((span_start, clipped_end))
        return spans

    def _spans_from(self, begin: datetime) -> Iterator[Span]:
        """Working spans in time order, clipped so none starts before `begin`.

        Starts a day early, in case a zone's clocks go back across midnight. Raises instead
        of ending, so every caller terminates.
        """
        day = begin.astimezone(self.zone).date() - _ONE_DAY
        try:
            for _ in range(MAX_SEARCH_DAYS):
                for span_start, span_end in self._day_spans(day):
                    if span_end > begin:
                        yield max(span_start, begin), span_end
                day += _ONE_DAY
        except OverflowError as error:
            raise ValueError("working time runs past the supported date range") from error
        raise ValueError(f"no result within {MAX_SEARCH_DAYS} days of {begin.isoformat()}")

    def _day_spans(self, day: date) -> Iterator[Span]:
        if day in self.holidays:
            return
        midnight = datetime.combine(day, time(0))
        for interval in self.weekly_hours.get(day.weekday(), ()):
            span_start = _first_instant_at(midnight + interval.start_offset, self.zone)
            span_end = _first_instant_at(midnight + interval.end_offset, self.zone)
            if span_end > span_start:  # empty when the clocks skip the whole interval
                yield span_start, span_end


def add_working_time(
    calendar: BusinessCalendar | None, start: datetime, duration: timedelta
) -> datetime:
    """`None` is a 24x7 calendar."""
    if calendar is None:
        return _as_utc(start) + _non_negative(duration)
    return calendar.add_working_time(start, duration)


def working_time_between(
    calendar: BusinessCalendar | None, start: datetime, end: datetime
) -> timedelta:
    """`None` is a 24x7 calendar."""
    if calendar is None:
        return max(_as_utc(end) - _as_utc(start), timedelta(0))
    return calendar.working_time_between(start, end)


def is_working_time(calendar: BusinessCalendar | None, at: datetime) -> bool:
    """`None` is a 24x7 calendar."""
    if calendar is None:
        _as_utc(at)
        return True
    return calendar.is_working_time(at)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime {moment.isoformat()} is naive: pass a timezone-aware one")
    return moment.astimezone(UTC)


def _non_negative(duration: timedelta) -> timedelta:
    if duration < timedelta(0):
        raise ValueError(f"duration {duration} is negative")
    return duration


def _offset(wall: time) -> timedelta:
    return timedelta(
        hours=wall.hour, minutes=wall.minute, seconds=wall.second, microseconds=wall.microsecond
    )


def _sorted_disjoint(weekday: int, intervals: list[WorkingInterval]) -> list[WorkingInterval]:
    ordered = sorted(intervals, key=lambda interval: interval.start_offset)
    for earlier, later in pairwise(ordered):
        if later.start_offset < earlier.end_offset:
            raise ValueError(
                f"weekday {weekday}: interval {later.start}-{later.end} overlaps "
                f"{earlier.start}-{earlier.end}"
            )
    return ordered


def _first_instant_at(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant at which the local clock in `zone` reads `wall` or later.

    Existing readings (the first of two when clocks go back) convert directly. A reading
    the clocks skip lies between its two fold conversions, and the jump is found by
    bisecting that gap (at most a few hours, so ~33 steps at microsecond resolution).
    """
    after = wall.replace(tzinfo=zone).astimezone(UTC)
    if after.astimezone(zone).replace(tzinfo=None) == wall:
        return after
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    while after - before > _RESOLUTION:
        middle = before + (after - before) // 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            after = middle
        else:
            before = middle
    return after
