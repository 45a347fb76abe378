"""Business-hours calendar: SLA due times a support lead could check by hand.

January 2026: Monday 5 .. Friday 9, Saturday 10, Sunday 11, Monday 12, Tuesday 13.
Europe/Madrid is CET (UTC+1) in winter and CEST (UTC+2) in summer; in 2026 the clocks go
forward on Sunday 29 March (02:00 -> 03:00) and back on Sunday 25 October (03:00 -> 02:00).
"""

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.calendar import (
    MAX_SEARCH_DAYS,
    BusinessCalendar,
    WorkingInterval,
    add_working_time,
    is_working_time,
    working_time_between,
)

MADRID = ZoneInfo("Europe/Madrid")
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
TICK = timedelta(microseconds=1)


def utc(*fields: int) -> datetime:
    return _at(UTC, *fields)


def madrid(*fields: int) -> datetime:
    """A Madrid wall-clock reading (the first one, if the clocks repeat it)."""
    return _at(MADRID, *fields)


def _at(
    zone: tzinfo,
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=zone)


def calendar(weekly_hours: dict[str, list[tuple[str, str]]], **fields: object) -> BusinessCalendar:
    """Builds a calendar from its JSON shape, the way configuration arrives."""
    hours = {
        weekday: [{"start": start, "end": end} for start, end in intervals]
        for weekday, intervals in weekly_hours.items()
    }
    return BusinessCalendar.model_validate({"weekly_hours": hours, **fields})


WEEKDAYS = BusinessCalendar.weekdays()
MONDAY_12_OFF = BusinessCalendar.weekdays(holidays=[date(2026, 1, 12)])
LUNCH_BREAK = calendar({str(day): [("09:00", "13:00"), ("14:00", "18:00")] for day in range(5)})
MADRID_WEEKDAYS = BusinessCalendar.weekdays(timezone="Europe/Madrid")
MADRID_EVERY_DAY = calendar(
    {str(day): [("09:00", "18:00")] for day in range(7)}, timezone="Europe/Madrid"
)
MADRID_ROUND_THE_CLOCK = calendar(
    {str(day): [("00:00", "24:00")] for day in range(7)}, timezone="Europe/Madrid"
)
MADRID_NIGHTS = calendar(
    {str(day): [("00:00", "06:00"), ("22:00", "24:00")] for day in range(7)},
    timezone="Europe/Madrid",
    holidays=["2026-03-31"],
)


# --- configuration -------------------------------------------------------------------------


def test_loads_the_documented_json() -> None:
    loaded = BusinessCalendar.model_validate_json(
        '{"timezone":"Europe/Madrid","weekly_hours":{"0":[{"start":"09:00","end":"18:00"}]},'
        '"holidays":["2026-12-25"]}'
    )

    assert loaded.timezone == "Europe/Madrid"
    assert loaded.weekly_hours == {0: [WorkingInterval(start=time(9), end=time(18))]}
    assert loaded.holidays == frozenset({date(2026, 12, 25)})


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TICKETS_")

    business_calendar: BusinessCalendar | None = None


def test_loads_from_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "TICKETS_BUSINESS_CALENDAR",
        '{"timezone":"Europe/Madrid","weekly_hours":{"4":[{"start":"08:00","end":"15:00"}]}}',
    )

    loaded = _Settings().business_calendar

    assert loaded is not None
    assert loaded.weekly_hours == {4: [WorkingInterval(start=time(8), end=time(15))]}
    assert loaded.add_working_time(madrid(2026, 1, 9, 14), 2 * HOUR) == utc(2026, 1, 16, 8)


@pytest.mark.parametrize("spelling", ["24:00", "24:00:00", "00:00"])
def test_an_interval_can_run_until_midnight(spelling: str) -> None:
    interval = WorkingInterval.model_validate({"start": "22:00", "end": spelling})

    assert interval.until_midnight
    assert interval.end == time(0)
    assert interval.end_offset == timedelta(hours=24)


def test_midnight_end_survives_a_json_round_trip() -> None:
    exported = MADRID_NIGHTS.model_dump_json()

    assert '"end":"24:00"' in exported
    assert BusinessCalendar.model_validate_json(exported) == MADRID_NIGHTS


def test_intervals_are_kept_in_time_order() -> None:
    loaded = calendar({"0": [("14:00", "18:00"), ("09:00", "13:00")]})

    assert [interval.start for interval in loaded.weekly_hours[0]] == [time(9), time(14)]


def test_touching_intervals_are_allowed() -> None:
    loaded = calendar({"0": [("09:00", "13:00"), ("13:00", "18:00")]})

    assert len(loaded.weekly_hours[0]) == 2


def test_weekdays_is_monday_to_friday() -> None:
    built = BusinessCalendar.weekdays("08:30", "17:00", "Europe/Madrid", [date(2026, 1, 6)])

    assert sorted(built.weekly_hours) == [0, 1, 2, 3, 4]
    assert all(
        hours == [WorkingInterval(start=time(8, 30), end=time(17))]
        for hours in built.weekly_hours.values()
    )
    assert built.timezone == "Europe/Madrid"
    assert built.holidays == frozenset({date(2026, 1, 6)})


def test_weekdays_defaults_to_nine_to_six_utc() -> None:
    assert WEEKDAYS.timezone == "UTC"
    assert WEEKDAYS.weekly_hours[0] == [WorkingInterval(start=time(9), end=time(18))]
    assert WEEKDAYS.holidays == frozenset()


def test_a_calendar_is_frozen() -> None:
    with pytest.raises(ValidationError):
        WEEKDAYS.timezone = "Europe/Madrid"  # type: ignore[misc]


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Mars/Olympus", "utc", "", "Europe", "../etc/passwd", "x" * 300])
def test_rejects_an_unknown_time_zone(name: str) -> None:
    with pytest.raises(ValidationError, match="unknown IANA time zone"):
        BusinessCalendar.weekdays(timezone=name)


def test_rejects_overlapping_intervals() -> None:
    with pytest.raises(ValidationError, match=r"weekday 2: interval 12:00:00-18:00:00 overlaps"):
        calendar({"2": [("09:00", "13:00"), ("12:00", "18:00")]})


def test_rejects_an_interval_inside_another() -> None:
    with pytest.raises(ValidationError, match="overlaps"):
        calendar({"0": [("09:00", "18:00"), ("10:00", "11:00")]})


@pytest.mark.parametrize("week", [{}, {"0": [], "6": []}])
def test_rejects_a_week_without_working_time(week: dict[str, list[tuple[str, str]]]) -> None:
    with pytest.raises(ValidationError, match="at least one working interval"):
        calendar(week)


@pytest.mark.parametrize("weekday", ["7", "-1", "99"])
def test_rejects_a_weekday_outside_monday_to_sunday(weekday: str) -> None:
    with pytest.raises(ValidationError, match=r"is not 0 \(Monday\) .. 6 \(Sunday\)"):
        calendar({weekday: [("09:00", "18:00")]})


def test_rejects_a_weekday_name_as_key() -> None:
    with pytest.raises(ValidationError, match="weekly_hours"):
        calendar({"monday": [("09:00", "18:00")]})


@pytest.mark.parametrize(("start", "end"), [("18:00", "09:00"), ("09:00", "09:00")])
def test_rejects_an_interval_that_does_not_move_forward(start: str, end: str) -> None:
    with pytest.raises(ValidationError, match="must be after its start"):
        WorkingInterval.model_validate({"start": start, "end": end})


def test_rejects_interval_times_with_an_offset() -> None:
    with pytest.raises(ValidationError, match="local wall-clock times"):
        WorkingInterval.model_validate({"start": "09:00+01:00", "end": "18:00+01:00"})


def test_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        BusinessCalendar.model_validate({"weekly_hours": {}, "zone": "UTC"})


NAIVE = datetime(2026, 1, 5, 10)  # noqa: DTZ001 - the point of these tests
AWARE = utc(2026, 1, 5, 10)
NAIVE_CALLS: dict[str, Callable[[], object]] = {
    "is_working_time": lambda: WEEKDAYS.is_working_time(NAIVE),
    "next_working_moment": lambda: WEEKDAYS.next_working_moment(NAIVE),
    "add_working_time": lambda: WEEKDAYS.add_working_time(NAIVE, HOUR),
    "add_working_time zero": lambda: WEEKDAYS.add_working_time(NAIVE, timedelta(0)),
    "between naive start": lambda: WEEKDAYS.working_time_between(NAIVE, AWARE),
    "between naive end": lambda: WEEKDAYS.working_time_between(AWARE, NAIVE),
    "spans naive end": lambda: WEEKDAYS.working_spans(AWARE, NAIVE),
    "helper add": lambda: add_working_time(WEEKDAYS, NAIVE, HOUR),
    "helper add 24x7": lambda: add_working_time(None, NAIVE, HOUR),
    "helper between 24x7": lambda: working_time_between(None, AWARE, NAIVE),
    "helper is_working 24x7": lambda: is_working_time(None, NAIVE),
}


@pytest.mark.parametrize("call", NAIVE_CALLS.values(), ids=NAIVE_CALLS.keys())
def test_rejects_naive_datetimes(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="naive"):
        call()


@pytest.mark.parametrize("calendar_or_none", [WEEKDAYS, None])
def test_rejects_a_negative_duration(calendar_or_none: BusinessCalendar | None) -> None:
    with pytest.raises(ValueError, match="negative"):
        add_working_time(calendar_or_none, AWARE, -MINUTE)


# --- add_working_time ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        pytest.param(utc(2026, 1, 5, 10), 3 * HOUR, utc(2026, 1, 5, 13), id="within a day"),
        pytest.param(utc(2026, 1, 5, 9), 9 * HOUR, utc(2026, 1, 5, 18), id="fills the day"),
        pytest.param(utc(2026, 1, 5, 17), 2 * HOUR, utc(2026, 1, 6, 10), id="crosses a night"),
        pytest.param(utc(2026, 1, 5, 17, 30), HOUR, utc(2026, 1, 6, 9, 30), id="half past"),
        pytest.param(utc(2026, 1, 9, 17), 2 * HOUR, utc(2026, 1, 12, 10), id="crosses weekend"),
        pytest.param(utc(2026, 1, 10, 12), HOUR, utc(2026, 1, 12, 10), id="starts saturday"),
        pytest.param(utc(2026, 1, 11, 23), MINUTE, utc(2026, 1, 12, 9, 1), id="starts sunday"),
        pytest.param(utc(2026, 1, 5, 7), 30 * MINUTE, utc(2026, 1, 5, 9, 30), id="before open"),
        pytest.param(utc(2026, 1, 5, 20), HOUR, utc(2026, 1, 6, 10), id="after close"),
        pytest.param(utc(2026, 1, 5, 9), 45 * HOUR, utc(2026, 1, 9, 18), id="a whole week"),
        pytest.param(utc(2026, 1, 5, 9), 46 * HOUR, utc(2026, 1, 12, 10), id="week plus one"),
        pytest.param(utc(2026, 1, 5, 10), TICK, utc(2026, 1, 5, 10, 0, 0, 1), id="a tick"),
    ],
)
def test_weekday_due_times(start: datetime, duration: timedelta, due: datetime) -> None:
    assert WEEKDAYS.add_working_time(start, duration) == due


def test_a_monday_holiday_pushes_to_tuesday() -> None:
    assert MONDAY_12_OFF.add_working_time(utc(2026, 1, 9, 17), 2 * HOUR) == utc(2026, 1, 13, 10)


def test_a_start_on_a_holiday_begins_counting_the_next_working_day() -> None:
    assert MONDAY_12_OFF.add_working_time(utc(2026, 1, 12, 10), HOUR) == utc(2026, 1, 13, 10)


def test_lunch_break_is_not_counted() -> None:
    assert LUNCH_BREAK.add_working_time(utc(2026, 1, 5, 12), 2 * HOUR) == utc(2026, 1, 5, 15)


def test_a_count_that_ends_at_lunch_ends_at_one() -> None:
    assert LUNCH_BREAK.add_working_time(utc(2026, 1, 5, 12), HOUR) == utc(2026, 1, 5, 13)


def test_zero_duration_returns_the_start_even_out_of_hours() -> None:
    saturday_noon_in_madrid = datetime(2026, 1, 10, 13, tzinfo=timezone(HOUR))

    due = WEEKDAYS.add_working_time(saturday_noon_in_madrid, timedelta(0))

    assert due == utc(2026, 1, 10, 12)
    assert due.tzinfo is UTC


def test_the_result_is_utc_whatever_the_start_offset() -> None:
    start = datetime(2026, 1, 5, 14, tzinfo=timezone(timedelta(hours=5)))  # 09:00 UTC

    due = WEEKDAYS.add_working_time(start, HOUR)

    assert due == utc(2026, 1, 5, 10)
    assert due.tzinfo is UTC


def test_year_rollover_skips_new_years_day() -> None:
    rollover = BusinessCalendar.weekdays(holidays=[date(2026, 1, 1)])

    # Wednesday 31 December 2025, Thursday 1 January a holiday, Friday 2 January.
    assert rollover.add_working_time(utc(2025, 12, 31, 17), 2 * HOUR) == utc(2026, 1, 2, 10)


def test_year_rollover_into_a_weekend() -> None:
    rollover = BusinessCalendar.weekdays(holidays=[date(2027, 1, 1)])

    # Thursday 31 December 2026, Friday 1 January a holiday, then the weekend.
    assert rollover.add_working_time(utc(2026, 12, 31, 17), 2 * HOUR) == utc(2027, 1, 4, 10)


def test_thirty_working_days_is_six_weeks() -> None:
    thirty_days = 30 * 9 * HOUR

    assert WEEKDAYS.add_working_time(utc(2026, 1, 5, 9), thirty_days) == utc(2026, 2, 13, 18)
    assert WEEKDAYS.add_working_time(utc(2026, 1, 5, 9), thirty_days + TICK) == (
        utc(2026, 2, 16, 9) + TICK
    )


def test_round_the_clock_calendar_counts_calendar_time_in_utc() -> None:
    start = utc(2026, 1, 5, 9)

    assert MADRID_ROUND_THE_CLOCK.add_working_time(start, timedelta(days=30)) == utc(2026, 2, 4, 9)


def test_gives_up_after_the_search_bound() -> None:
    one_minute_a_week = calendar({"0": [("09:00", "09:01")]})
    minutes_in_bound = MAX_SEARCH_DAYS // 7

    # The hundredth Monday from 5 January 2026 is 99 weeks later.
    assert one_minute_a_week.add_working_time(utc(2026, 1, 5), 100 * MINUTE) == utc(
        2027, 11, 29, 9, 1
    )
    with pytest.raises(ValueError, match=f"within {MAX_SEARCH_DAYS} days"):
        one_minute_a_week.add_working_time(utc(2026, 1, 5), (minutes_in_bound + 5) * MINUTE)


def test_the_end_of_the_calendar_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="supported date range"):
        WEEKDAYS.add_working_time(utc(9999, 12, 31, 17, 30), HOUR)  # a Friday


# --- Europe/Madrid and DST -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "due"),
    [
        pytest.param(madrid(2026, 1, 12, 17), utc(2026, 1, 13, 9), id="winter"),
        pytest.param(madrid(2026, 7, 6, 17), utc(2026, 7, 7, 8), id="summer"),
        pytest.param(madrid(2026, 3, 27, 17), utc(2026, 3, 30, 8), id="clocks forward weekend"),
        pytest.param(madrid(2026, 10, 23, 17), utc(2026, 10, 26, 9), id="clocks back weekend"),
        pytest.param(madrid(2026, 12, 24, 17), utc(2026, 12, 28, 9), id="christmas"),
    ],
)
def test_madrid_two_hours_from_five_pm(start: datetime, due: datetime) -> None:
    with_christmas = BusinessCalendar.weekdays(
        timezone="Europe/Madrid", holidays=[date(2026, 12, 25)]
    )

    assert with_christmas.add_working_time(start, 2 * HOUR) == due


@pytest.mark.parametrize(
    ("day", "span"),
    [
        pytest.param(date(2026, 3, 28), (utc(2026, 3, 28, 8), utc(2026, 3, 28, 17)), id="CET"),
        pytest.param(date(2026, 3, 29), (utc(2026, 3, 29, 7), utc(2026, 3, 29, 16)), id="23h"),
        pytest.param(date(2026, 10, 25), (utc(2026, 10, 25, 8), utc(2026, 10, 25, 17)), id="25h"),
    ],
)
def test_a_nine_to_six_day_is_nine_hours_on_dst_days(
    day: date, span: tuple[datetime, datetime]
) -> None:
    local_midnight = datetime.combine(day, time(0), MADRID)
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), MADRID)

    assert MADRID_EVERY_DAY.working_spans(local_midnight, next_midnight) == [span]
    assert MADRID_EVERY_DAY.working_time_between(local_midnight, next_midnight) == 9 * HOUR


@pytest.mark.parametrize(
    ("day", "length"), [(date(2026, 3, 29), 23 * HOUR), (date(2026, 10, 25), 25 * HOUR)]
)
def test_round_the_clock_counts_the_real_length_of_a_dst_day(day: date, length: timedelta) -> None:
    local_midnight = datetime.combine(day, time(0), MADRID)
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), MADRID)

    assert MADRID_ROUND_THE_CLOCK.working_time_between(local_midnight, next_midnight) == length


def test_a_night_shift_loses_the_skipped_hour() -> None:
    # Sunday 29 March: 00:00 CET (23:00 UTC Saturday) to 06:00 CEST (04:00 UTC).
    assert MADRID_NIGHTS.working_spans(madrid(2026, 3, 29), madrid(2026, 3, 29, 12)) == [
        (utc(2026, 3, 28, 23), utc(2026, 3, 29, 4))
    ]


def test_a_night_shift_gains_the_repeated_hour() -> None:
    # Sunday 25 October: 00:00 CEST (22:00 UTC Saturday) to 06:00 CET (05:00 UTC).
    assert MADRID_NIGHTS.working_time_between(madrid(2026, 10, 25), madrid(2026, 10, 25, 12)) == (
        7 * HOUR
    )


def test_a_boundary_the_clocks_skip_starts_at_the_jump() -> None:
    early = calendar({"6": [("02:30", "04:00")]}, timezone="Europe/Madrid")

    # 02:30 never happens on 29 March: work starts when the clocks jump to 03:00 CEST.
    assert early.working_spans(utc(2026, 3, 28), utc(2026, 3, 30)) == [
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 2))
    ]
    assert not early.is_working_time(utc(2026, 3, 29, 0, 59, 59))
    assert early.is_working_time(utc(2026, 3, 29, 1))


def test_an_interval_the_clocks_skip_entirely_is_lost_that_day() -> None:
    skipped = calendar({"6": [("02:00", "03:00")]}, timezone="Europe/Madrid")

    # Next Sunday, 5 April, 02:00 CEST.
    assert skipped.next_working_moment(utc(2026, 3, 28, 12)) == utc(2026, 4, 5, 0)


def test_a_boundary_the_clocks_repeat_means_its_first_occurrence() -> None:
    repeated = calendar({"6": [("02:00", "03:00")]}, timezone="Europe/Madrid")

    # 02:00 CEST (00:00 UTC) until 03:00 CET (02:00 UTC): two real hours.
    assert repeated.working_spans(utc(2026, 10, 24), utc(2026, 10, 26)) == [
        (utc(2026, 10, 25, 0), utc(2026, 10, 25, 2))
    ]


def test_holidays_are_local_dates() -> None:
    tokyo = BusinessCalendar.weekdays(timezone="Asia/Tokyo", holidays=[date(2026, 1, 6)])

    # Tuesday 6 January 10:00 JST is still Monday 5 January in UTC.
    assert not tokyo.is_working_time(utc(2026, 1, 6, 1))
    assert tokyo.add_working_time(utc(2026, 1, 5, 8), 2 * HOUR) == utc(2026, 1, 7, 1)


# --- is_working_time and next_working_moment -----------------------------------------------


@pytest.mark.parametrize(
    ("at", "working"),
    [
        pytest.param(utc(2026, 1, 5, 9), True, id="opening moment"),
        pytest.param(utc(2026, 1, 5, 17, 59, 59, 999999), True, id="last tick"),
        pytest.param(utc(2026, 1, 5, 18), False, id="closing moment"),
        pytest.param(utc(2026, 1, 5, 8, 59), False, id="before opening"),
        pytest.param(utc(2026, 1, 10, 12), False, id="saturday"),
        pytest.param(utc(2026, 1, 12, 12), False, id="holiday"),
        pytest.param(utc(2026, 1, 13, 12), True, id="day after holiday"),
    ],
)
def test_is_working_time(at: datetime, working: bool) -> None:
    assert MONDAY_12_OFF.is_working_time(at) is working


@pytest.mark.parametrize(
    ("at", "moment"),
    [
        pytest.param(utc(2026, 1, 5, 10, 15), utc(2026, 1, 5, 10, 15), id="already working"),
        pytest.param(utc(2026, 1, 5, 13, 30), utc(2026, 1, 5, 14), id="lunch"),
        pytest.param(utc(2026, 1, 9, 18), utc(2026, 1, 12, 9), id="friday close"),
        pytest.param(utc(2026, 1, 10, 12), utc(2026, 1, 12, 9), id="saturday"),
    ],
)
def test_next_working_moment(at: datetime, moment: datetime) -> None:
    assert LUNCH_BREAK.next_working_moment(at) == moment


def test_next_working_moment_skips_a_holiday() -> None:
    assert MONDAY_12_OFF.next_working_moment(utc(2026, 1, 10)) == utc(2026, 1, 13, 9)


# --- working_time_between and working_spans ------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "elapsed"),
    [
        pytest.param(utc(2026, 1, 5, 10), utc(2026, 1, 5, 12), 2 * HOUR, id="same day"),
        pytest.param(utc(2026, 1, 9, 17), utc(2026, 1, 12, 10), 2 * HOUR, id="weekend"),
        pytest.param(utc(2026, 1, 5), utc(2026, 1, 12), 45 * HOUR, id="whole week"),
        pytest.param(utc(2026, 1, 10), utc(2026, 1, 11, 23), timedelta(0), id="weekend only"),
        pytest.param(utc(2026, 1, 5, 12), utc(2026, 1, 5, 10), timedelta(0), id="reversed"),
        pytest.param(utc(2026, 1, 5, 12), utc(2026, 1, 5, 12), timedelta(0), id="empty"),
    ],
)
def test_working_time_between(start: datetime, end: datetime, elapsed: timedelta) -> None:
    assert WEEKDAYS.working_time_between(start, end) == elapsed


def test_a_holiday_takes_a_day_out_of_the_week() -> None:
    assert MONDAY_12_OFF.working_time_between(utc(2026, 1, 12), utc(2026, 1, 19)) == 36 * HOUR


def test_working_spans_skip_the_weekend_and_a_holiday() -> None:
    assert MONDAY_12_OFF.working_spans(utc(2026, 1, 9, 15), utc(2026, 1, 13, 11)) == [
        (utc(2026, 1, 9, 15), utc(2026, 1, 9, 18)),
        (utc(2026, 1, 13, 9), utc(2026, 1, 13, 11)),
    ]


def test_working_spans_show_the_lunch_break() -> None:
    assert LUNCH_BREAK.working_spans(utc(2026, 1, 5), utc(2026, 1, 6)) == [
        (utc(2026, 1, 5, 9), utc(2026, 1, 5, 13)),
        (utc(2026, 1, 5, 14), utc(2026, 1, 5, 18)),
    ]


def test_working_spans_merge_touching_intervals() -> None:
    split_day = calendar({"0": [("09:00", "13:00"), ("13:00", "18:00")]})

    assert split_day.working_spans(utc(2026, 1, 5), utc(2026, 1, 6)) == [
        (utc(2026, 1, 5, 9), utc(2026, 1, 5, 18))
    ]


def test_working_spans_merge_across_midnight() -> None:
    assert MADRID_ROUND_THE_CLOCK.working_spans(utc(2026, 1, 5, 10), utc(2026, 1, 8, 10)) == [
        (utc(2026, 1, 5, 10), utc(2026, 1, 8, 10))
    ]


def test_working_spans_are_utc_and_empty_for_an_empty_range() -> None:
    spans = MADRID_WEEKDAYS.working_spans(madrid(2026, 1, 5, 8), madrid(2026, 1, 5, 10))

    assert spans == [(utc(2026, 1, 5, 8), utc(2026, 1, 5, 9))]
    assert all(moment.tzinfo is UTC for span in spans for moment in span)
    assert MADRID_WEEKDAYS.working_spans(madrid(2026, 1, 5, 10), madrid(2026, 1, 5, 8)) == []


# --- working_time_between is the inverse of add_working_time -------------------------------

INVERSE_CALENDARS = {
    "weekdays with holiday": MONDAY_12_OFF,
    "lunch break": LUNCH_BREAK,
    "madrid every day": MADRID_EVERY_DAY,
    "madrid nights": MADRID_NIGHTS,
    "madrid weekdays": MADRID_WEEKDAYS,
}
DURATIONS = [timedelta(0), TICK, MINUTE, 59 * MINUTE, HOUR, 270 * MINUTE, 9 * HOUR, 27 * HOUR]
WINDOWS = [utc(2026, 1, 3), utc(2026, 3, 24), utc(2026, 10, 20)]


def _starts() -> list[datetime]:
    """Every 97 minutes over a week, so starts fall at every hour and minute of the day."""
    return [window + step * 97 * MINUTE for window in WINDOWS for step in range(105)]


@pytest.mark.parametrize("name", INVERSE_CALENDARS)
def test_working_time_between_inverts_add_working_time(name: str) -> None:
    chosen = INVERSE_CALENDARS[name]
    for start in _starts():
        for duration in DURATIONS:
            due = chosen.add_working_time(start, duration)

            assert due >= start
            assert chosen.working_time_between(start, due) == duration
            if duration:  # the earliest such moment: the tick before it was still counting
                assert chosen.is_working_time(due - TICK)


@pytest.mark.parametrize("name", INVERSE_CALENDARS)
def test_adding_in_two_steps_equals_adding_at_once(name: str) -> None:
    chosen = INVERSE_CALENDARS[name]
    for start in _starts()[::7]:
        for first in DURATIONS:
            for second in DURATIONS[1:]:
                halfway = chosen.add_working_time(start, first)

                assert chosen.add_working_time(halfway, second) == chosen.add_working_time(
                    start, first + second
                )


@pytest.mark.parametrize("name", INVERSE_CALENDARS)
def test_adding_the_time_between_lands_no_later_than_the_end(name: str) -> None:
    chosen = INVERSE_CALENDARS[name]
    starts = _starts()
    for start, end in zip(starts, starts[40:], strict=False):
        elapsed = chosen.working_time_between(start, end)
        due = chosen.add_working_time(start, elapsed)

        assert due <= end
        assert chosen.working_time_between(due, end) == timedelta(0)


# --- the module helpers, where None means 24x7 ---------------------------------------------


def test_no_calendar_adds_plain_elapsed_time() -> None:
    start = datetime(2026, 1, 10, 13, tzinfo=timezone(HOUR))

    due = add_working_time(None, start, 2 * HOUR)

    assert due == utc(2026, 1, 10, 14)
    assert due.tzinfo is UTC


def test_no_calendar_measures_plain_elapsed_time() -> None:
    assert working_time_between(None, utc(2026, 1, 10), utc(2026, 1, 11, 6)) == 30 * HOUR
    assert working_time_between(None, utc(2026, 1, 11), utc(2026, 1, 10)) == timedelta(0)


def test_no_calendar_is_always_working() -> None:
    assert is_working_time(None, utc(2026, 1, 10, 3))


def test_helpers_delegate_to_a_calendar() -> None:
    assert add_working_time(WEEKDAYS, utc(2026, 1, 9, 17), 2 * HOUR) == utc(2026, 1, 12, 10)
    assert working_time_between(WEEKDAYS, utc(2026, 1, 9, 17), utc(2026, 1, 12, 10)) == 2 * HOUR
    assert not is_working_time(WEEKDAYS, utc(2026, 1, 10, 12))
