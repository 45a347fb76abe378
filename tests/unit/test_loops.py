"""A background loop whose dependency is away says so once, then once a minute with a
count, and once when it recovers; the clock is moved by hand."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import aiormq.exceptions
import pytest
from pymongo.errors import ServerSelectionTimeoutError

from infra.clock import MovableClock
from infra.loops import FailureLog, dependency_of, every

START = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)


def _broker_down() -> Exception:
    return aiormq.exceptions.AMQPConnectionError("[Errno 111] Connection refused")


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "infra.loops"]


def test_an_outage_is_one_line_then_one_a_minute_with_the_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = MovableClock(START)
    failures = FailureLog("outbox relay", clock)
    caplog.set_level(logging.INFO, logger="infra.loops")
    for _ in range(59):  # a round a second for 59 s
        failures.failed(_broker_down())
        clock.advance(timedelta(seconds=1))
    first, *rest = _lines(caplog)
    assert rest == []
    assert first.levelno == logging.WARNING
    assert first.getMessage() == "background round failed: RabbitMQ unavailable"
    assert first.exc_info is None
    assert "Connection refused" in first.__dict__["error"]
    assert first.__dict__["loop"] == "outbox relay"

    clock.advance(timedelta(seconds=1))
    failures.failed(_broker_down())  # a minute after the first line
    assert len(_lines(caplog)) == 2
    assert _lines(caplog)[1].__dict__["failures"] == 59  # since the first line


def test_recovery_is_one_info_line_and_a_new_outage_starts_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = MovableClock(START)
    failures = FailureLog("outbox relay", clock)
    caplog.set_level(logging.INFO, logger="infra.loops")
    failures.succeeded()  # nothing failed: nothing to say
    assert _lines(caplog) == []
    for _ in range(3):
        failures.failed(ServerSelectionTimeoutError("no servers"))
        clock.advance(timedelta(seconds=1))
    failures.succeeded()
    failures.succeeded()
    warning, recovered = _lines(caplog)
    assert warning.getMessage() == "background round failed: MongoDB unavailable"
    assert recovered.levelno == logging.INFO
    assert recovered.getMessage() == "background round recovered"
    assert recovered.__dict__["failures"] == 3

    failures.failed(_broker_down())  # a new outage is reported at once
    assert len(_lines(caplog)) == 3


def test_a_bug_keeps_its_traceback_on_the_first_line_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = MovableClock(START)
    failures = FailureLog("sla scan", clock)
    caplog.set_level(logging.INFO, logger="infra.loops")
    for _ in range(2):
        failures.failed(KeyError("dueAt"))
        clock.advance(timedelta(minutes=2))
    first, second = _lines(caplog)
    assert first.getMessage() == "background round failed"
    assert first.exc_info is not None
    assert second.exc_info is None


def test_the_dependency_is_found_through_the_cause() -> None:
    wrapped = RuntimeError("publish failed")
    wrapped.__cause__ = _broker_down()
    assert dependency_of(wrapped) == "RabbitMQ"
    assert dependency_of(ConnectionRefusedError()) == "a connection"
    assert dependency_of(ValueError()) is None


async def test_every_logs_an_outage_once_and_its_end(caplog: pytest.LogCaptureFixture) -> None:
    clock = MovableClock(START)
    stop = asyncio.Event()
    rounds = 0

    async def work() -> None:
        nonlocal rounds
        rounds += 1
        if rounds <= 5:
            raise _broker_down()
        stop.set()

    caplog.set_level(logging.INFO, logger="infra.loops")
    await every(0, stop, work, "outbox relay", clock=clock)
    assert rounds == 6
    assert [r.getMessage() for r in _lines(caplog)] == [
        "background round failed: RabbitMQ unavailable",
        "background round recovered",
    ]
