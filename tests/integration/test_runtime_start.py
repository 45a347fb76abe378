"""A start that fails half-way leaves nothing running behind it."""

import aio_pika
import pytest

from contracts import names
from infra.runtime import Context, Runtime
from services.ticket_service.main import TicketService
from tests.support.system import Endpoints, settings_for

pytestmark = pytest.mark.integration


class FailsAfterConsuming(TicketService):
    """Its consumers are up when `started` fails (a loop that cannot start, say)."""

    async def started(self, context: Context) -> None:
        await super().started(context)
        raise RuntimeError("the loop could not start")


async def consumers_of(rabbit_url: str, queue_name: str) -> int:
    connection = await aio_pika.connect_robust(rabbit_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, passive=True)
        count = queue.declaration_result.consumer_count
        assert count is not None
        return count
    finally:
        await connection.close()


async def test_a_failed_start_stops_the_consumers_it_started(
    endpoints: Endpoints, database: str
) -> None:
    runtime = Runtime(settings_for(endpoints, database), [FailsAfterConsuming()])
    with pytest.raises(RuntimeError, match="the loop could not start"):
        await runtime.start()
    assert runtime.context is None
    assert await consumers_of(endpoints.rabbit_url, names.CREATE) == 0
    await runtime.stop()  # a second stop is harmless
