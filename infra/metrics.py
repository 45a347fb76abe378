"""Metrics every process exports whatever services it runs: HTTP requests, consumed
messages, queue depths and whether MongoDB and RabbitMQ answer.

Labels are closed sets: HTTP routes are the route templates (`/api/v2/tickets/{ticketId}`,
never an id), an unknown path is `unmatched`; per-instance queues lose their instance id.
"""

import time
import weakref
from typing import Any

from faststream import BaseMiddleware
from faststream.message import AckStatus, StreamMessage
from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Receive, Scope, Send

from infra.asgi import StatusRecordingSend

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS = Counter(
    "tickets_http_requests_total",
    "HTTP requests answered, by method, route template and status code",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "tickets_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
MESSAGES = Counter(
    "tickets_messages_consumed_total",
    "Messages handled, by queue and outcome (ok, dead_lettered, error, requeued, rejected)",
    ["queue", "outcome"],
)
DEAD_LETTERED = Counter(
    "tickets_messages_dead_lettered_total",
    "Messages set aside to tickets.dead_letter by the inbox (unreadable, or failed too often)",
    ["queue"],
)
MESSAGE_LATENCY = Histogram(
    "tickets_message_handling_seconds",
    "Time to handle one consumed message, by queue",
    ["queue"],
    buckets=LATENCY_BUCKETS,
)
QUEUE_DEPTH = Gauge(
    "tickets_queue_messages", "Messages waiting in a queue this process consumes", ["queue"]
)
QUEUE_CONSUMERS = Gauge(
    "tickets_queue_consumers", "Consumers attached to a queue this process consumes", ["queue"]
)
DEPENDENCY_UP = Gauge(
    "tickets_dependency_up",
    "1 when the dependency answered the last check from this process, else 0",
    ["dependency"],
)

_OUTCOMES = {AckStatus.REJECTED: "rejected", AckStatus.NACKED: "requeued"}
_dead_lettered: "weakref.WeakSet[StreamMessage[Any]]" = weakref.WeakSet()


def count_dead_letter(message: StreamMessage[Any], queue: str) -> None:
    """Called by the inbox when it sets a message aside (then acks it)."""
    DEAD_LETTERED.labels(queue).inc()
    _dead_lettered.add(message)


class HttpMetrics:
    """Counts and times every HTTP response (Socket.IO polling included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        recording = StatusRecordingSend(send)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, recording)
        finally:
            route = route_of(scope)
            method = scope.get("method", "GET")
            HTTP_REQUESTS.labels(method, route, str(recording.status)).inc()
            HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        return template
    if str(scope.get("path", "")).startswith("/socket.io"):
        return "/socket.io/"
    return "unmatched"


class ConsumeMetrics(BaseMiddleware):
    """Counts and times every consumed message by the queue its subscriber reads."""

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        queue = queue_label(self.context.get_local("handler_"))
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await call_next(msg)
            outcome = _outcome(msg)
            return result
        finally:
            MESSAGES.labels(queue, outcome).inc()
            MESSAGE_LATENCY.labels(queue).observe(time.perf_counter() - started)


def _outcome(msg: StreamMessage[Any]) -> str:
    if msg in _dead_lettered:
        return "dead_lettered"
    return _OUTCOMES.get(msg.committed, "ok") if msg.committed else "ok"


def queue_label(subscriber: Any) -> str:
    """The queue's name; `notifier.push.*` for per-instance (exclusive) queues."""
    queue = getattr(subscriber, "queue", None)
    name = getattr(queue, "name", None)
    if not isinstance(name, str):
        return "unknown"
    if getattr(queue, "exclusive", False) or getattr(queue, "auto_delete", False):
        return name.rsplit(".", 1)[0] + ".*"
    return name
