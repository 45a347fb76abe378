"""Typed domain errors; each maps to one reply error code."""

from collections.abc import Iterable

from contracts.enums import ErrorCode, TicketStatus


class DomainError(Exception):
    code: ErrorCode = ErrorCode.VALIDATION

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> list[dict[str, object]] | None:
        """Machine-readable extras for the reply's `error.details`."""
        return None


class ValidationFailed(DomainError):
    code = ErrorCode.VALIDATION


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class Forbidden(DomainError):
    code = ErrorCode.FORBIDDEN


class Conflict(DomainError):
    code = ErrorCode.CONFLICT


class AlreadyRated(Conflict):
    """The customer already rated this resolution of the ticket; the rating stands."""


class RateLimited(DomainError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds

    def details(self) -> list[dict[str, object]] | None:
        return [{"retryAfterSeconds": self.retry_after_seconds}]


class InvalidTransition(DomainError):
    """A status change (or an action implying one) the lifecycle does not allow."""

    code = ErrorCode.INVALID_TRANSITION

    def __init__(
        self,
        current: TicketStatus,
        requested: TicketStatus | None,
        allowed: Iterable[TicketStatus],
        message: str | None = None,
    ) -> None:
        self.current = current
        self.requested = requested
        self.allowed = sorted(allowed)
        valid = ", ".join(self.allowed) or "none (terminal status)"
        super().__init__(
            message
            or f"Invalid transition from {current} to {requested}. Valid transitions: {valid}"
        )

    def details(self) -> list[dict[str, object]] | None:
        return [
            {
                "currentStatus": str(self.current),
                "requestedStatus": None if self.requested is None else str(self.requested),
                "allowedStatuses": [str(s) for s in self.allowed],
            }
        ]
