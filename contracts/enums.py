"""Closed vocabularies of the customer's schema."""

from enum import StrEnum


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    PENDING_CUSTOMER = "pending_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    REOPENED = "reopened"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


PRIORITY_ORDER: tuple[Priority, ...] = (
    Priority.LOW,
    Priority.MEDIUM,
    Priority.HIGH,
    Priority.URGENT,
)


class Category(StrEnum):
    SUPPORT = "support"
    TECHNICAL = "technical"
    BILLING = "billing"
    SALES = "sales"
    COMPLAINT = "complaint"
    FEATURE_REQUEST = "feature_request"
    ACCOUNT = "account"
    OTHER = "other"


class Source(StrEnum):
    AI = "ai"
    AGENT = "agent"
    CUSTOMER = "customer"
    SYSTEM = "system"


class Channel(StrEnum):
    WHATSAPP = "whatsapp"
    WEB = "web"
    EMAIL = "email"
    PHONE = "phone"


class ActorType(StrEnum):
    AGENT = "Agent"
    CUSTOMER = "Customer"
    SYSTEM = "System"


class AgentRole(StrEnum):
    AGENT = "agent"
    ADMIN = "admin"


class Language(StrEnum):
    ES = "es"
    EN = "en"


class SlaKind(StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


class ErrorCode(StrEnum):
    VALIDATION = "validation"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    INVALID_TRANSITION = "invalid_transition"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"
