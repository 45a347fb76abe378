"""Webhook signatures: HMAC-SHA256 over `"{timestamp}.{body}"`, sent as
`X-Tickets-Signature: t=<unix seconds>,v1=<hex digest>`; while a rotated secret's overlap
lasts, one `v1=` per secret (the new one first), so a receiver still holding the old
secret and one already holding the new one both verify.

A receiver recomputes the digest with its secret over the exact body bytes it got, accepts
the request if any `v1` matches, and refuses a timestamp too far from its own clock,
which stops replays of an old delivery.
"""

import hashlib
import hmac
from collections.abc import Sequence

SIGNATURE_HEADER = "X-Tickets-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


class BadSignature(Exception):
    """The header is missing, malformed, stale, or does not match the body."""


def digest(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secrets: str | Sequence[str], timestamp: int, body: bytes) -> str:
    """The header value."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    return ",".join([f"t={timestamp}", *(f"v1={digest(k, timestamp, body)}" for k in keys)])


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Returns the signed timestamp, or raises BadSignature."""
    pairs = [item.split("=", 1) for item in (header or "").split(",") if "=" in item]
    stamps = [value for name, value in pairs if name.strip() == "t"]
    signatures = [value for name, value in pairs if name.strip() == "v1"]
    try:
        timestamp = int(stamps[0])
    except (IndexError, ValueError) as error:
        raise BadSignature("malformed signature header") from error
    if not signatures:
        raise BadSignature("malformed signature header")
    if abs(now - timestamp) > tolerance:
        raise BadSignature("timestamp outside the tolerance")
    expected = digest(secret, timestamp, body).encode()
    given = [s.encode(errors="surrogateescape") for s in signatures]
    if not any(hmac.compare_digest(signature, expected) for signature in given):
        raise BadSignature("signature does not match")
    return timestamp
