"""Database round trips per request, counted by PyMongo's command monitoring.

The ticket service runs each command under the caller's correlation id (the tickets
client's `x-correlation-id`), so every database command a worker sends while it handles
that message is counted against that id, whichever task or collection it touches.
Commands sent without a watched id (background sweeps, other tests) are not recorded, nor
is the authentication of a connection the pool happens to open during the command (its
set-up, which depends on what else used the pool, e.g. the statistics consumer).
"""

import uuid
from collections import defaultdict

from pymongo import monitoring

from infra.logging import correlation_id

CONNECTION_SET_UP = frozenset({"saslStart", "saslContinue", "authenticate", "hello", "isMaster"})


class RoundTrips(monitoring.CommandListener):
    """Register once per process, before the service's client is made (`listening()`)."""

    def __init__(self) -> None:
        self._watched: set[str] = set()
        self.commands: defaultdict[str, list[str]] = defaultdict(list)

    def watch(self) -> str:
        """A fresh correlation id whose commands are recorded from now on."""
        watched = f"round-trips-{uuid.uuid4().hex}"
        self._watched.add(watched)
        return watched

    def of(self, watched: str) -> list[str]:
        """`collection-or-command` names in the order sent, e.g. `findAndModify customers`."""
        return list(self.commands.get(watched, []))

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        current = correlation_id.get()
        if current in self._watched and event.command_name not in CONNECTION_SET_UP:
            target = event.command.get(event.command_name)
            where = target if isinstance(target, str) else event.database_name
            self.commands[current].append(f"{event.command_name} {where}")

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Only starts are counted: a failed command was a round trip too."""

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Only starts are counted."""


_LISTENER: RoundTrips | None = None


def listening() -> RoundTrips:
    """The process-wide listener; clients made after the first call report to it."""
    global _LISTENER  # noqa: PLW0603 - PyMongo's registry is process-wide too
    if _LISTENER is None:
        _LISTENER = RoundTrips()
        monitoring.register(_LISTENER)
    return _LISTENER
