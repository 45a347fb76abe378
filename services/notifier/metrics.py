"""Notifier metrics, registered once per process in the default registry that `/metrics`
serves; several notifier instances in one process (tests) add to the same series."""

from prometheus_client import Counter, Gauge, Histogram

CONNECTED_CLIENTS = Gauge(
    "tickets_notifier_connected_clients", "Socket.IO clients connected to this process"
)
PUSHES = Counter(
    "tickets_notifier_pushes_total", "Socket.IO pushes emitted, by push event", ["event"]
)
DUPLICATES = Counter(
    "tickets_notifier_duplicate_events_total", "Redelivered events that were not pushed again"
)
REFUSED_CONNECTIONS = Counter(
    "tickets_notifier_refused_connections_total", "Socket.IO connections refused at auth"
)
WEBHOOK_DELIVERIES = Counter(
    "tickets_notifier_webhook_deliveries_total",
    "Webhook delivery attempts by outcome (delivered, retrying, dead)",
    ["outcome"],
)
PUSH_LATENCY = Histogram(
    "tickets_notifier_push_latency_seconds",
    "From the event's occurredAt to the Socket.IO emit",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
