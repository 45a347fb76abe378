"""Assistant gateway metrics, registered once per process in the default registry that
`/metrics` serves. Labels are closed sets: tool names outside the catalogue are `unknown`."""

from prometheus_client import Counter, Histogram

from services.assistant_gateway.domain.tools import TOOLS

TOOL_CALLS = Counter(
    "tickets_assistant_tool_calls_total",
    "Tool calls executed, by tool and outcome (success or the error code)",
    ["tool", "outcome"],
)
REPLIES = Counter(
    "tickets_assistant_replies_total",
    "WhatsApp replies published, by kind (model, fallback, hand_off, republished)",
    ["kind"],
)
DUPLICATES = Counter(
    "tickets_assistant_inbound_duplicates_total", "Inbound deliveries skipped as duplicates"
)
MODEL_LATENCY = Histogram(
    "tickets_assistant_model_request_seconds",
    "One model request (retries included), by API",
    ["api"],
    buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
)


def tool_label(name: str) -> str:
    return name if name in TOOLS else "unknown"


BUDGET_SPENT = Counter(
    "tickets_assistant_budget_exceeded_total",
    "Tool calls refused because a budget ran out, by budget (turn_tool_calls, turn_notes, "
    "turn_escalations, turn_time, conversation_tool_calls, conversation_notes, "
    "conversation_escalations)",
    ["budget"],
)
HAND_OFFS = Counter(
    "tickets_assistant_hand_offs_total",
    "Turns the assistant stopped and handed to a person because a budget ran out",
)
