"""tests/support/waiting.py: the one way tests wait."""

import asyncio

import pytest

from tests.support.waiting import eventually


async def test_returns_the_first_truthy_finding() -> None:
    tries: list[int] = []

    def probe() -> list[int]:
        tries.append(1)
        return tries if len(tries) >= 3 else []

    assert await eventually(probe, what="three tries", interval=0) == [1, 1, 1]


async def test_an_assertion_in_the_probe_means_not_yet() -> None:
    count = 0

    async def probe() -> int:
        nonlocal count
        count += 1
        assert count >= 2, "not yet"
        return count

    assert await eventually(probe, what="the second try", interval=0) == 2


async def test_a_wait_that_never_holds_says_what_it_waited_for_and_the_last_finding() -> None:
    with pytest.raises(
        AssertionError, match=r"waited 0.05 s for the queue to fill: last finding 0"
    ):
        await eventually(lambda: 0, what="the queue to fill", timeout=0.05, interval=0.01)


async def test_the_last_assertion_is_the_reason() -> None:
    def probe() -> bool:
        raise AssertionError("status was 'new'")

    with pytest.raises(AssertionError, match="status was 'new'"):
        await eventually(probe, what="the status", timeout=0.05, interval=0.01)


async def test_other_errors_end_the_wait_at_once() -> None:
    def probe() -> bool:
        raise KeyError("ticketId")

    with pytest.raises(KeyError):
        await eventually(probe, what="a key", timeout=60)


async def test_wake_ends_the_pause_early() -> None:
    wake = asyncio.Event()
    box: list[str] = []

    async def later() -> None:
        await asyncio.sleep(0)
        box.append("arrived")
        wake.set()

    task = asyncio.create_task(later())
    # an interval of an hour: only the wake can end the pause in time for the test to end
    assert await eventually(lambda: box, what="the arrival", interval=3600, wake=wake) == [
        "arrived"
    ]
    await task
