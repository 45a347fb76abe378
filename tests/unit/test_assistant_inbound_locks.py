"""One customer's messages are answered one at a time: the per-customer lock."""

import asyncio

from services.assistant_gateway.inbound import KeyedLocks


async def test_a_woken_waiter_keeps_a_newcomer_out() -> None:
    locks = KeyedLocks()
    inside: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    first_in, let_first_go, let_second_go = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def turn(name: str, entered: asyncio.Event | None, leave: asyncio.Event) -> None:
        async with locks.hold("+34600000001"):
            inside.append(name)
            overlaps.append(tuple(inside))
            if entered is not None:
                entered.set()
            await leave.wait()
            inside.remove(name)

    first = asyncio.create_task(turn("first", first_in, let_first_go))
    await first_in.wait()
    second = asyncio.create_task(turn("second", None, let_second_go))
    await asyncio.sleep(0)  # the second now waits on the lock
    let_first_go.set()
    await first  # released: the second is woken but has not run yet
    third = asyncio.create_task(turn("third", None, asyncio.Event()))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert inside == ["second"]  # the newcomer waits behind the woken waiter
    let_second_go.set()
    await second
    await asyncio.sleep(0)
    assert inside == ["third"]
    third.cancel()
    await asyncio.gather(third, return_exceptions=True)
    assert all(len(seen) == 1 for seen in overlaps)
    assert len(locks) == 0  # nothing left behind once nobody holds or waits


async def test_different_customers_run_side_by_side() -> None:
    locks = KeyedLocks()
    async with locks.hold("+34600000001"), locks.hold("+34600000002"):
        assert len(locks) == 2
    assert len(locks) == 0
