"""Ticket id format: TICKET-<year>-<6-digit sequence>, the sequence restarting each year."""

import re

_PATTERN = re.compile(r"^TICKET-(\d{4})-(\d{6,})$")


def format_ticket_id(year: int, sequence: int) -> str:
    if sequence < 1:
        raise ValueError("sequence starts at 1")
    return f"TICKET-{year}-{sequence:06d}"


def parse_ticket_id(ticket_id: str) -> tuple[int, int]:
    match = _PATTERN.fullmatch(ticket_id)
    if match is None:
        raise ValueError(f"not a ticket id: {ticket_id!r}")
    return int(match.group(1)), int(match.group(2))
