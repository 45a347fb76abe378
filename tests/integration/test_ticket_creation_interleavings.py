"""Creations interleaved step by step (paused at a chosen step, the others run meanwhile),
the orders a loaded machine produces by chance: two copies of one request, numbers taken
in between. Whatever the order: one ticket per key, and no number left unused."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from contracts import commands as cmd
from contracts.tickets import Ticket
from infra.mongo import connect
from services.ticket_service.creation import TicketCreator
from services.ticket_service.main import TicketService
from tests.support.factories import create_body
from tests.support.system import Endpoints, running, settings_for

pytestmark = pytest.mark.integration


class Pause:
    """The first call of `target.step` stops at `when` ("before" or "after" the step)
    until `go()`; later calls run straight through."""

    def __init__(self, target: object, step: str, when: str) -> None:
        self.target, self.step, self.when = target, step, when
        self.reached = asyncio.Event()
        self._go = asyncio.Event()
        self._armed = True

    def go(self) -> None:
        self._go.set()

    @contextmanager
    def installed(self) -> Iterator["Pause"]:
        original = getattr(self.target, self.step)

        async def paused(*args: Any, **kwargs: Any) -> Any:
            first, self._armed = self._armed, False
            if first and self.when == "before":
                await self._stop()
            result = await original(*args, **kwargs)
            if first and self.when == "after":
                await self._stop()
            return result

        setattr(self.target, self.step, paused)
        try:
            yield self
        finally:
            setattr(self.target, self.step, original)

    async def _stop(self) -> None:
        self.reached.set()
        await self._go.wait()


def command(key: str, phone: str = "+34610000001") -> cmd.CreateTicket:
    return cmd.CreateTicket.model_validate(create_body(phone, idempotencyKey=key))


async def numbers_and_counter(endpoints: Endpoints, database: str) -> tuple[list[int], Any]:
    async with connect(endpoints.mongo_url) as mongo:
        db = mongo[database]
        ids = [t["ticketId"] async for t in db.tickets.find({}, {"ticketId": 1})]
        counter = await db.ticket_counters.find_one({})
    return sorted(int(i.rsplit("-", 1)[1]) for i in ids), counter


async def test_a_copy_that_found_nothing_stored_answers_the_first_copys_ticket_and_takes_no_number(
    endpoints: Endpoints, database: str
) -> None:
    """A client retried while its first request was stuck (the database away): both copies
    found no ticket under the key. The first stores it, other creations take numbers, then
    the second goes on; while it would be between its number and its insert, one more
    creation comes. The second copy answers the first copy's ticket and no number is left
    unused (it once took a number of its own, found the key stored and freed that number
    for a next creation that never came: a gap)."""
    settings = settings_for(endpoints, database)
    async with running(settings) as runtime:
        service = runtime.services[0]
        assert isinstance(service, TicketService)
        cases = service.use_cases()
        assert isinstance(cases.creator, TicketCreator)
        with Pause(cases.creator.tickets, "open_or_created", "after").installed() as checked:
            second = asyncio.create_task(cases.create(command("retried")))
            await checked.reached.wait()
            first = await cases.create(command("retried"))
            between = [await cases.create(command(f"other-{n}", f"+3461000001{n}")) for n in (1, 2)]
            with Pause(cases.creator.tickets, "insert", "before").installed() as inserting:
                checked.go()
                reached = asyncio.create_task(inserting.reached.wait())
                await asyncio.wait([second, reached], return_when=asyncio.FIRST_COMPLETED)
                if second.done():
                    inserting.go()  # it never came to an insert: the next one need not wait
                late = await cases.create(command("late", "+34610000020"))
                inserting.go()
                answered: Ticket = await second
        reached.cancel()
        assert service.numbers is not None
        await service.numbers.flush()
    numbers, counter = await numbers_and_counter(endpoints, database)
    assert answered.ticket_id == first.ticket_id
    assert [t.ticket_id[-1] for t in (first, *between, late)] == ["1", "2", "3", "4"]
    assert numbers == [1, 2, 3, 4]
    assert counter["lastSequence"] == 4
    assert counter["pending"] == []
