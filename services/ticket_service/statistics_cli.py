"""`tickets statistics rebuild [--from DATE]`: recount the statistics rollups from the
tickets. Safe beside running services: it takes the rollups' one writer (the events wait
in their queue meanwhile and are applied after it, as moves from the recounted state)."""

from datetime import UTC, date, datetime

from infra.clock import SystemClock
from infra.dependencies import database_of
from infra.settings import Settings
from services.ticket_service.documents import TicketDocument
from services.ticket_service.rollup_writer import RollupWriter


def parse_day(text: str) -> datetime:
    """A `YYYY-MM-DD` day as its UTC midnight (the rollups' days are UTC days)."""
    return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)


async def rebuild(settings: Settings, since: datetime | None) -> int:
    """The number of tickets counted."""
    async with database_of(settings) as database:
        tickets = database[TicketDocument.Settings.name]
        writer = RollupWriter(database, tickets, SystemClock())
        await writer.ensure_indexes()
        return await writer.rebuild(since)
