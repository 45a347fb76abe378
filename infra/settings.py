"""Every setting, from environment variables (documented in the README)."""

from datetime import timedelta
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.sla import SlaPolicy


class NotifierSettings(BaseModel):
    """The notifier's knobs (`TICKETS_NOTIFIER__<NAME>`)."""

    cors_origins: str = Field(
        default="", description="Comma-separated origins allowed to open Socket.IO; '*' any"
    )
    recent_event_ids: int = Field(default=10_000, gt=0, description="Dedup window per instance")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_max_attempts: int = Field(default=6, ge=1)
    webhook_backoff_seconds: float = Field(default=30.0, gt=0, description="First retry delay")
    webhook_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_poll_seconds: float = Field(default=2.0, gt=0)
    webhook_max_in_flight: int = Field(default=50, gt=0)
    webhook_max_in_flight_per_endpoint: int = Field(
        default=5, gt=0, description="Concurrent requests to one endpoint (a slow one leaves room)"
    )
    webhook_allow_private_targets: bool = Field(
        default=False,
        description="Let webhooks call loopback, link-local and private-network addresses",
    )
    session_check_seconds: float = Field(
        default=60.0, gt=0, description="How often connections are re-checked"
    )
    max_connections_per_agent: int = Field(
        default=10, ge=1, description="Socket.IO connections one agent may hold per instance"
    )
    handshakes_per_address_per_minute: int = Field(
        default=120, ge=1, description="New Socket.IO sessions one client address may open"
    )
    max_pending_handshakes: int = Field(
        default=500, ge=1, description="Sessions per instance not yet authenticated"
    )


class SlaMonitorSettings(BaseModel):
    """`TICKETS_SLA_MONITOR__...`: how the SLA monitor scans and what it does on a breach."""

    scan_interval_seconds: float = Field(default=5.0, gt=0, description="Seconds between scans")
    scan_batch: int = Field(default=200, ge=1, le=10_000, description="Timers claimed per query")
    lease_seconds: float = Field(
        default=60.0, gt=0, description="A claimed timer not finished by then is taken again"
    )
    warnings_enabled: bool = Field(default=True, description="Send sla.warning events")
    escalate_on_breach: bool = Field(
        default=False, description="Raise the priority one level when a target is breached"
    )
    auto_close_enabled: bool = Field(default=True, description="Close resolved tickets when due")
    metrics_refresh_seconds: float = Field(
        default=30.0, gt=0, description="Seconds between open-ticket / compliance gauge refreshes"
    )
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    resync_on_start: bool = Field(
        default=True,
        description="Plan timers for every open ticket at start-up (tickets from before the "
        "monitor's queue existed)",
    )


class AssistantSettings(BaseModel):
    """`TICKETS_ASSISTANT__...`: the assistant gateway's model calls and conversation loop."""

    api: Literal["responses", "chat_completions"] = Field(
        default="responses", description="OpenAI Responses API, or Chat Completions"
    )
    model_timeout_seconds: float = Field(default=20.0, gt=0, description="Per model request")
    model_retries: int = Field(default=2, ge=0, le=10, description="SDK retries per request")
    turn_timeout_seconds: float = Field(
        default=60.0, gt=0, description="Model time per customer message, then the fallback"
    )
    max_tool_rounds: int = Field(default=5, ge=1, le=20, description="Model calls per message")
    history_entries: int = Field(default=40, ge=2, description="Transcript entries kept")
    ticket_timeout_seconds: float = Field(default=10.0, gt=0, description="Ticket service reply")
    inbound_lease_seconds: float = Field(
        default=300.0, gt=0, description="An unfinished inbound message is retaken after this"
    )
    default_language: Literal["es", "en"] = "es"
    max_tool_calls_per_turn: int = Field(
        default=8, ge=1, le=100, description="Tool calls one customer message may cause"
    )
    max_notes_per_turn: int = Field(default=2, ge=0, le=100, description="add_ticket_comment")
    max_escalations_per_turn: int = Field(
        default=1, ge=0, le=100, description="request_human_agent calls per message"
    )
    max_tool_calls_per_conversation: int = Field(
        default=60, ge=1, description="Tool calls per customer within the conversation window"
    )
    max_notes_per_conversation: int = Field(default=10, ge=0)
    max_escalations_per_conversation: int = Field(default=2, ge=0)
    conversation_window_seconds: float = Field(
        default=86_400.0, gt=0, description="A conversation: a customer's calls within this"
    )


class TemplateSetting(BaseModel):
    """An approved WhatsApp template: `{"name": ..., "language": "es", "parameters": [...]}`;
    in the parameters `{text}` and `{ticketId}` are replaced."""

    name: str = Field(min_length=1, max_length=512)
    language: str = Field(default="es", min_length=2, max_length=15)
    parameters: list[str] = Field(default_factory=list, max_length=20)


class WhatsAppSettings(BaseModel):
    """`TICKETS_WHATSAPP__...`: the WhatsApp Cloud API channel. It is off until one of the
    four credentials is set; then all four are required."""

    verify_token: str | None = Field(
        default=None, description="Your token Meta echoes in the webhook verification GET"
    )
    app_secret: str | None = Field(
        default=None, description="The Meta app secret that signs webhooks (X-Hub-Signature-256)"
    )
    access_token: str | None = Field(default=None, description="Graph API bearer token")
    phone_number_id: str | None = Field(default=None, description="The sending phone number id")
    graph_base_url: str = Field(default="https://graph.facebook.com")
    graph_api_version: str = Field(default="v23.0")
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    publish_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Broker confirm wait before the webhook answers 503"
    )
    outside_window: Literal["template", "refuse"] = Field(
        default="template",
        description="A free-form reply after the 24-hour window: send the template, or refuse",
    )
    template_name: str | None = Field(default=None, description="Approved template for replies")
    template_language: str = Field(default="es")
    template_parameters: list[str] = Field(
        default_factory=lambda: ["{text}"],
        description="Body parameters; {text}, {ticketId} are replaced",
    )
    csat_template: TemplateSetting | None = Field(
        default=None,
        description="The CSAT question outside the window (else the reply template)",
        examples=[{"name": "csat_request", "language": "es", "parameters": ["{ticketId}"]}],
    )
    nudge_template: TemplateSetting | None = Field(
        default=None,
        description="Set it to remind a pending_customer ticket's customer before the "
        "window closes",
        examples=[{"name": "ticket_waiting", "language": "es", "parameters": ["{ticketId}"]}],
    )
    nudge_before: timedelta = Field(
        default=timedelta(hours=2),
        gt=timedelta(0),
        lt=timedelta(hours=24),
        description="How long before the window closes the reminder goes",
    )
    nudge_scan_seconds: float = Field(default=60.0, gt=0)
    send_max_attempts: int = Field(default=8, ge=1)
    send_backoff_seconds: float = Field(default=2.0, gt=0)
    send_backoff_max_seconds: float = Field(default=300.0, gt=0)
    retry_after_max_seconds: float = Field(default=3600.0, gt=0)
    send_poll_seconds: float = Field(default=1.0, gt=0)
    send_lease_seconds: float = Field(
        default=60.0, gt=0, description="A send claimed longer than this ended unknown"
    )
    relay_sweep_seconds: float = Field(default=5.0, gt=0)
    relay_grace_seconds: float = Field(default=10.0, ge=0)
    media_max_bytes: int = Field(default=100 * 1024 * 1024, gt=0)

    REQUIRED: ClassVar[tuple[str, ...]] = (
        "verify_token",
        "app_secret",
        "access_token",
        "phone_number_id",
    )

    @property
    def enabled(self) -> bool:
        return any(getattr(self, name) for name in self.REQUIRED)

    def missing(self) -> list[str]:
        """The environment variables still needed (empty when complete)."""
        return [
            f"TICKETS_WHATSAPP__{name.upper()}" for name in self.REQUIRED if not getattr(self, name)
        ]

    @model_validator(mode="after")
    def _complete_when_on(self) -> "WhatsAppSettings":
        if self.enabled and (missing := self.missing()):
            raise ValueError(
                f"the WhatsApp channel needs all four credentials: set {', '.join(missing)}"
            )
        return self


class MessagingSettings(BaseModel):
    """`TICKETS_MESSAGING__...`: how every consumer of every service takes its messages."""

    prefetch: int = Field(
        default=16,
        ge=1,
        le=10_000,
        description="Unacknowledged messages per consumer (how many it works on at once)",
    )
    max_body_bytes: int = Field(
        default=1_048_576, gt=0, description="Larger messages are dead-lettered unread"
    )
    delivery_limit: int = Field(
        default=20, ge=1, description="A message delivered this many times is dead-lettered"
    )


class CsatSettings(BaseModel):
    """`TICKETS_CSAT__...`: asking the customer to rate a resolved ticket on WhatsApp."""

    enabled: bool = Field(default=True, description="Ask for a 1-5 rating when resolved")
    window: timedelta = Field(
        default=timedelta(hours=24),
        gt=timedelta(0),
        description="How long after asking a reply that is only a number is the rating",
    )
    default_language: Literal["es", "en"] = Field(
        default="es", description="The question's language when the customer's is unknown"
    )


EMPTY_MEANS_UNSET = ("mongodb_url", "openai_api_key", "openai_base_url")
"""Optional settings whose empty value means unset (the defaults: embedded MongoDB, no
model, OpenAI itself)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TICKETS_",
        env_nested_delimiter="__",
        extra="ignore",
        populate_by_name=True,
    )

    mongodb_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MONGODB_URL", "TICKETS_MONGODB_URL"),
        description="Unset: an embedded Mongo wire server over SQLite under data_dir",
    )
    mongodb_database: str = "tickets"
    rabbitmq_url: str = Field(
        default="amqp://guest:guest@localhost:5672/",
        validation_alias=AliasChoices("RABBITMQ_URL", "TICKETS_RABBITMQ_URL"),
    )
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_max_body_bytes: int = Field(
        default=1_048_576, gt=0, description="Larger request bodies are refused with 413"
    )
    data_dir: Path = Path("var")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    metrics_refresh_seconds: float = Field(
        default=15.0, gt=0, description="How often queue, dependency and outbox gauges refresh"
    )
    startup_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="How long MongoDB and RabbitMQ may take to answer"
    )
    api_keys: str = Field(default="", description="Comma-separated service API keys")
    jwt_secret: str | None = Field(default=None, description="HS256 secret for agent tokens")
    jwt_private_key: str | None = Field(default=None, description="RS256 PEM (token issuing)")
    jwt_public_key: str | None = Field(default=None, description="RS256 PEM (token checking)")
    jwt_ttl_seconds: int = Field(default=12 * 3600, gt=0)
    metrics_token: str | None = Field(
        default=None, description="When set, /metrics wants 'Authorization: Bearer <token>'"
    )
    api_requests_per_minute: int = Field(
        default=600, ge=1, description="REST requests per agent token or API key per minute"
    )
    auth_failures_per_address: int = Field(
        default=50,
        ge=1,
        description="Failed authentications from one client address per window, then 429",
    )
    auth_failures_per_credential: int = Field(
        default=10, ge=1, description="Failures of one same credential per window, then 429"
    )
    auth_failure_window_seconds: float = Field(
        default=900.0, gt=0, description="Window of the failed-authentication limits"
    )
    tickets_per_customer_per_hour: int = Field(
        default=10, ge=1, description="Tickets one customer may open in any 60 minutes"
    )
    max_open_tickets_per_customer: int = Field(
        default=10, ge=1, description="A customer's unresolved tickets before creation is refused"
    )
    openai_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "TICKETS_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "TICKETS_OPENAI_BASE_URL")
    )
    openai_model: str = Field(
        default="gpt-4.1-mini",
        validation_alias=AliasChoices("OPENAI_MODEL", "TICKETS_OPENAI_MODEL"),
    )
    sla: SlaPolicy = Field(default_factory=SlaPolicy)
    relay_sweep_seconds: float = Field(default=5.0, gt=0)
    relay_grace_seconds: float = Field(
        default=10.0, ge=0, description="How old an unsent event must be before a sweep takes it"
    )
    idempotency_lease_seconds: float = Field(default=30.0, gt=0)
    messaging: MessagingSettings = Field(default_factory=MessagingSettings)
    sla_monitor: SlaMonitorSettings = Field(default_factory=SlaMonitorSettings)
    notifier: NotifierSettings = Field(default_factory=NotifierSettings)
    assistant: AssistantSettings = Field(default_factory=AssistantSettings)
    whatsapp: WhatsAppSettings = Field(default_factory=WhatsAppSettings)
    csat: CsatSettings = Field(default_factory=CsatSettings)

    @field_validator(*EMPTY_MEANS_UNSET, mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`OPENAI_BASE_URL=` (as compose writes `${OPENAI_BASE_URL:-}`) means unset, not an
        empty URL that would break every model call. Secrets are not in the list: an empty
        one is a weak one, refused at start-up."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("mongodb_url")
    @classmethod
    def _mongodb_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("expected mongodb://[user:password@]host[:port][/?options]")
        return value

    @field_validator("rabbitmq_url")
    @classmethod
    def _amqp_scheme(cls, value: str) -> str:
        if not value.startswith(("amqp://", "amqps://")):
            raise ValueError("expected amqp[s]://user:password@host[:port]/[vhost]")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def api_key_set(self) -> frozenset[str]:
        return frozenset(key.strip() for key in self.api_keys.split(",") if key.strip())
