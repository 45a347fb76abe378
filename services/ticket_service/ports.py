"""What the use cases (usecases.py) need from the world, as protocols.

`TicketUseCases` holds its dependencies by these types: MongoDB's repositories, the
once-per-key store, the outbox relay and the creator satisfy them in the service
(main.py), and the in-memory fakes of tests/support/fakes.py in the unit tests of the use
cases. Each protocol lists the methods the use cases call, plus those the service's other
modules (customers.py, conversation.py, csat.py, nudges.py, recording.py) reach through
`TicketUseCases`, with the semantics both sides must keep:

- `TicketStore.apply` writes a change only if the ticket is still at the revision it was
  read at, else raises `Conflict`; the events go with the change (the outbox).
- `TicketStore.find`/`count` take the Mongo filters and sorts of listing.py and access.py.
- `Idempotency.once` runs the work once per key; a later call with the key answers the
  recorded result through `replay`, without running the work.
- `EventRelay.publish_now` hands a committed change's outbox entries to the broker.
- `Creator.create` opens a ticket exactly once per creation key (creation.py).
"""

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from pymongo.asynchronous.collection import AsyncCollection

from contracts.enums import Language
from contracts.tickets import Ticket
from services.ticket_service.admission import CreationKey, CustomerRef
from services.ticket_service.creation import Build, Created
from services.ticket_service.documents import Agent, Customer
from services.ticket_service.domain.model import Change

Raw = dict[str, Any]


class TicketStore(Protocol):
    @property
    def tickets(self) -> AsyncCollection[Raw]:
        """The collection itself: the statistics and a customer's figures aggregate over
        it (MongoDB pipelines, covered by the integration tests only)."""
        ...

    async def get(self, ticket_id: str) -> Ticket | None: ...

    async def apply(self, before: Ticket, change: Change) -> Ticket:
        """Write `change` if the ticket is still at `before.revision`, else `Conflict`."""
        ...

    async def find(
        self, query: Raw, sort: list[tuple[str, int]], skip: int, limit: int
    ) -> list[Ticket]: ...

    async def count(self, query: Raw) -> int: ...

    async def latest_for_customer(
        self, customer_id: str, conversation_id: str | None
    ) -> Ticket | None:
        """The conversation's ticket, else the customer's newest; never a cancelled one."""
        ...


class CustomerStore(Protocol):
    async def by_phone(
        self,
        phone: str,
        now: datetime,
        name: str | None = None,
        language: Language | None = None,
        *,
        create: bool,
        entered_by_agent: bool = False,
        inbound_at: datetime | None = None,
    ) -> Customer | None:
        """The customer with this phone; created on first contact when `create` is set."""
        ...

    async def by_id(self, customer_id: str) -> Customer | None: ...

    async def by_ids(self, customer_ids: Iterable[str]) -> dict[str, Customer]: ...

    async def ids_matching(self, words: Sequence[str]) -> dict[str, list[str]]:
        """For each word, the customers whose phone or name contains it."""
        ...

    async def edit(
        self, customer_id: str, name: str | None, language: Language | None
    ) -> Customer | None: ...

    async def windows_closing(
        self, after: datetime, until: datetime, limit: int
    ) -> list[Customer]: ...

    async def nudged(self, customer: Customer) -> None: ...


class AgentStore(Protocol):
    async def get(self, agent_id: str) -> Agent | None: ...

    async def get_many(self, agent_ids: Sequence[str]) -> list[Agent | None]:
        """The agents of these ids, in their order (None for an unknown id)."""
        ...


class Idempotency(Protocol):
    async def once[T](
        self,
        key: str,
        work: Callable[[], Awaitable[T]],
        record: Callable[[T], Raw],
        replay: Callable[[Raw], Awaitable[T]],
    ) -> T:
        """Run `work` once per key; duplicates get `replay(record(result))`."""
        ...


class EventRelay(Protocol):
    async def publish_now(self, key: Any, entries: list[Raw]) -> None:
        """Publish the outbox entries of a change just committed (a failure is left to
        the relay's sweep: it never raises)."""
        ...


class Creator(Protocol):
    async def create(
        self,
        customer: CustomerRef,
        key: CreationKey | None,
        build: Build,
        *,
        limited: bool = True,
    ) -> Created:
        """Open a ticket once per creation key; a repeat answers the stored ticket with
        `change=None` (nothing to publish)."""
        ...
