"""API keys this process admitted lately, so a bot's known-good key skips the gate's
failure check and key lookup (two database reads) on its next requests.

An entry is one credential as presented (the gate's fingerprint of the headers) from one
client address, remembered for `ttl` after a full check admitted it. Rules:

- only API keys: an agent's token is checked in full every time, so a deactivated or
  demoted agent loses access at once;
- a credential never admitted from that address (an attacker's guess) always gets the
  full check, so a blocked address learns nothing; a failure counted from an address drops
  every entry of that address, so its next requests are checked in full too;
- a revoked key keeps working for at most `ttl` on a process that admitted it lately;
- halfway through `ttl` the next request is checked in full again (and, admitted,
  renews the entry) while the others keep using the entry: a busy key is re-checked once
  per half `ttl`, not by every request in flight when its entry lapses;
- at most `capacity` entries, the least recently admitted dropped first; the request
  budget is still counted on every request.
"""

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from infra.identity import ServiceIdentity

CAPACITY = 1024


@dataclass(frozen=True, slots=True)
class _Entry:
    identity: ServiceIdentity
    until: datetime
    recheck_at: datetime


class AdmittedKeys:
    def __init__(self, ttl: timedelta, capacity: int = CAPACITY) -> None:
        self._ttl = ttl
        self._capacity = capacity
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    def find(self, fingerprint: str, address: str, now: datetime) -> ServiceIdentity | None:
        entry = self._entries.get((fingerprint, address))
        if entry is None:
            return None
        if now >= entry.until:
            del self._entries[fingerprint, address]
            return None
        if now >= entry.recheck_at:  # this request checks it in full; the others need not
            self._entries[fingerprint, address] = _Entry(entry.identity, entry.until, entry.until)
            return None
        return entry.identity

    def remember(
        self, fingerprint: str, address: str, identity: ServiceIdentity, now: datetime
    ) -> None:
        if self._ttl <= timedelta(0):
            return
        until = now + self._ttl
        self._entries[fingerprint, address] = _Entry(identity, until, now + self._ttl / 2)
        self._entries.move_to_end((fingerprint, address))
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def forget(self, address: str) -> None:
        """After a failure from `address`: its keys are checked in full again."""
        for key in [key for key in self._entries if key[1] == address]:
            del self._entries[key]
