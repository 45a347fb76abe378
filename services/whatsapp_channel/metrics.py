"""WhatsApp channel metrics, in the default registry that `/metrics` serves."""

from prometheus_client import Counter

WEBHOOKS = Counter(
    "tickets_whatsapp_webhook_requests_total",
    "Webhook POSTs by outcome (accepted, bad_signature, malformed, unavailable)",
    ["outcome"],
)
INBOUND = Counter(
    "tickets_whatsapp_inbound_messages_total",
    "Customer messages by outcome (published, duplicate, skipped)",
    ["outcome"],
)
STATUSES = Counter(
    "tickets_whatsapp_status_reports_total", "Delivery reports received, by status", ["status"]
)
SENDS = Counter(
    "tickets_whatsapp_send_attempts_total",
    "Send attempts by outcome (sent, retry, dead, unknown, window_closed, refused)",
    ["outcome"],
)
