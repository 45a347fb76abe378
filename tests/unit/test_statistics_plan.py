"""The rollups' range plan covers a range exactly: every moment (to the millisecond, as
Mongo keeps them) inside [createdFrom, createdTo] lies in exactly one of its whole days,
whole quarter hours or partial quarter-hour pieces, and no moment outside lies in any."""

import random
from datetime import UTC, datetime, timedelta

from services.ticket_service.rollups import DAY, SLOT, RangePlan, plan, slot_of, stored_moment

BASE = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)


def _holders(where: RangePlan, moment: datetime) -> int:
    count = 0
    if where.days is not None:
        start, stop = where.days
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        count += (start is None or day >= start) and (stop is None or day < stop)
    count += sum(a <= moment < b for a, b in where.slots)
    for piece in where.raw:
        inside = moment >= piece["$gte"]
        inside &= moment < piece["$lt"] if "$lt" in piece else moment <= piece["$lte"]
        count += inside
    return count


def _moment(rng: random.Random) -> datetime:
    return BASE + timedelta(milliseconds=rng.randrange(5 * 86_400_000))


def test_every_moment_of_the_range_is_counted_once_and_none_outside() -> None:
    rng = random.Random(15)
    for _ in range(400):
        ends = sorted([_moment(rng), _moment(rng)])
        start = (
            None if rng.random() < 0.15 else ends[0] + timedelta(microseconds=rng.randrange(1000))
        )
        end = None if rng.random() < 0.15 else ends[1]
        if rng.random() < 0.2 and start is not None:  # within a few quarter hours
            end = start + timedelta(minutes=rng.randrange(40), milliseconds=rng.randrange(999))
        where = plan(start, end)
        low = stored_moment(start) if start else None
        high = stored_moment(end) if end else None
        probes = [_moment(rng) for _ in range(60)]
        for edge in (low, high):
            if edge is not None:
                probes += [edge + timedelta(milliseconds=d) for d in (-1, 0, 1)]
                probes += [slot_of(edge) + d for d in (SLOT, -timedelta(milliseconds=1))]
        for moment in probes:
            inside = (low is None or moment >= low) and (high is None or moment <= high)
            assert _holders(where, moment) == int(inside), (start, end, moment, where)


def test_each_piece_lies_within_one_quarter_hour_and_at_most_190_quarter_hours_are_read() -> None:
    rng = random.Random(7)
    for _ in range(300):
        start, end = sorted([_moment(rng), _moment(rng)])
        where = plan(start, end)
        for piece in where.raw:
            last = piece.get("$lt", piece.get("$lte"))
            assert last is not None
            assert slot_of(piece["$gte"]) == slot_of(last - timedelta(milliseconds="$lt" in piece))
        for a, b in where.slots:
            assert slot_of(a) == a
            assert slot_of(b) == b
        assert sum((b - a) // SLOT for a, b in where.slots) <= 2 * (DAY // SLOT - 1)
        assert len(where.raw) <= 2
