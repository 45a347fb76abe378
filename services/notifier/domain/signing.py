"""Webhook signatures: HMAC-SHA256 over `"{timestamp}.{body}"`, sent as
`X-Tickets-Signature: t=<unix seconds>,v1=<hex digest>`.

A receiver recomputes the digest with its secret over the exact body bytes it got and
refuses a timestamp too far from its own clock, which stops replays of an old delivery.
"""

import hashlib
import hmac

SIGNATURE_HEADER = "X-Tickets-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


class BadSignature(Exception):
    """The header is missing, malformed, stale, or does not match the body."""


def digest(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value."""
    return f"t={timestamp},v1={digest(secret, timestamp, body)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Returns the signed timestamp, or raises BadSignature."""
    parts = dict(item.split("=", 1) for item in (header or "").split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
        signature = parts["v1"]
    except (KeyError, ValueError) as error:
        raise BadSignature("malformed signature header") from error
    if abs(now - timestamp) > tolerance:
        raise BadSignature("timestamp outside the tolerance")
    expected = digest(secret, timestamp, body).encode()
    if not hmac.compare_digest(signature.encode(errors="surrogateescape"), expected):
        raise BadSignature("signature does not match")
    return timestamp
