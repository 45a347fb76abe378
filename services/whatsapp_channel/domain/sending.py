"""Sending rules as data: the states of one outbound message, what follows a Graph API
answer, and text vs template by the 24-hour window.

A send is claimed (`sending`) before the Graph API is called. A claim whose worker died,
or a request that reached WhatsApp without an answer, ends `unknown`: it may have been
delivered, so it is never sent again by itself (WhatsApp's later status report, which
carries our id, settles it). That is what makes it *at most once* per outbound message id.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum

from contracts.whatsapp import WhatsAppTemplate
from contracts.window import WindowState, window_closed_message


class SendState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    RETRYING = "retrying"
    SENT = "sent"
    DEAD = "dead"
    UNKNOWN = "unknown"


DUE_STATES = (SendState.PENDING, SendState.RETRYING)

TEXT_LIMIT = 4096
"""WhatsApp's limit for a text message body; longer texts are cut with an ellipsis."""
PARAMETER_LIMIT = 1024

RETRYABLE_ERROR_CODES = frozenset({4, 80007, 130429, 131000, 131016, 131048, 131056})
"""Graph error codes that mean "later" (rate limits, temporary failures), whatever the
HTTP status they come with."""
WINDOW_CLOSED_ERROR = 131047
"""Re-engagement required: more than 24 hours since the customer's last message."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    first_delay: timedelta
    max_delay: timedelta
    retry_after_max: timedelta

    def delay_after(self, attempts: int, retry_after: timedelta | None) -> timedelta:
        """Retry-After when WhatsApp gives one (capped), else doubling from first_delay."""
        if retry_after is not None:
            return min(max(retry_after, timedelta(0)), self.retry_after_max)
        doublings = min(max(attempts - 1, 0), 30)
        return min(self.first_delay * (1 << doublings), self.max_delay)


@dataclass(frozen=True, slots=True)
class GraphAnswer:
    """What one call of the send endpoint came back with."""

    status_code: int | None
    whatsapp_message_id: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    retry_after: timedelta | None = None
    reached: bool = False
    """The request may have reached WhatsApp (no answer came): never resend by itself."""

    @property
    def succeeded(self) -> bool:
        code = self.status_code
        return code is not None and 200 <= code < 300 and bool(self.whatsapp_message_id)

    def error(self) -> dict[str, object]:
        return {"httpStatus": self.status_code, "code": self.error_code, "message": self.message}

    @property
    def message(self) -> str:
        if self.error_message:
            return self.error_message
        if self.status_code is None:
            return "WhatsApp did not answer"
        return f"HTTP {self.status_code}"


class Verdict(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    DEAD = "dead"
    UNKNOWN = "unknown"
    WINDOW_CLOSED = "window_closed"


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    next_attempt_at: datetime | None = None


def after_attempt(
    policy: RetryPolicy, attempts: int, answer: GraphAnswer, now: datetime
) -> Outcome:
    """`attempts` counts the call just made."""
    if answer.succeeded:
        return Outcome(Verdict.SENT)
    if answer.reached:
        return Outcome(Verdict.UNKNOWN)
    if answer.error_code == WINDOW_CLOSED_ERROR:
        return Outcome(Verdict.WINDOW_CLOSED)
    if not _retryable(answer) or attempts >= policy.max_attempts:
        return Outcome(Verdict.DEAD)
    return Outcome(Verdict.RETRY, now + policy.delay_after(attempts, answer.retry_after))


def _retryable(answer: GraphAnswer) -> bool:
    code = answer.status_code
    if code is None or code == 429 or code >= 500:
        return True
    return answer.error_code in RETRYABLE_ERROR_CODES


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Seconds, or an HTTP date; None when absent or unreadable."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return timedelta(seconds=int(text))
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(moment - now, timedelta(0))


@dataclass(frozen=True, slots=True)
class TemplatePattern:
    """A configured template; its parameters may name `{text}` and `{ticketId}`."""

    name: str
    language: str
    parameters: tuple[str, ...]

    def fill(self, values: dict[str, str]) -> WhatsAppTemplate:
        parameters = [render(part, values) for part in self.parameters]
        return WhatsAppTemplate(name=self.name, language=self.language, parameters=parameters)


ALWAYS_TEMPLATE = frozenset({"nudge"})
"""Purposes sent as their template even inside the window (a reminder is a template)."""


@dataclass(frozen=True, slots=True)
class WindowRule:
    """The `outside_window` setting and the approved templates it may use, by purpose
    (`reply` is also the fallback)."""

    outside_window: str
    templates: Mapping[str, TemplatePattern]

    def template_for(self, purpose: str | None) -> TemplatePattern | None:
        return self.templates.get(purpose or "reply") or self.templates.get("reply")


@dataclass(frozen=True, slots=True)
class SendPlan:
    template: WhatsAppTemplate | None = None
    refusal: str | None = None


def plan_send(
    text: str,
    template: WhatsAppTemplate | None,
    window: WindowState,
    rule: WindowRule,
    values: dict[str, str],
    purpose: str | None = None,
) -> SendPlan:
    """A template asked for is sent as it is; free-form text goes as text inside the
    window, else as the template configured for its purpose or not at all (the setting
    chooses)."""
    if template is not None:
        return SendPlan(template=template)
    filled = {**values, "text": text}
    if purpose in ALWAYS_TEMPLATE and (reminder := rule.templates.get(purpose)) is not None:
        return SendPlan(template=reminder.fill(filled))
    if window.open:
        return SendPlan()
    pattern = rule.template_for(purpose)
    if rule.outside_window == "template" and pattern is not None:
        return SendPlan(template=pattern.fill(filled))
    return SendPlan(refusal=window_closed_message(window))


_SPACES = re.compile(r"\s+")


def render(pattern: str, values: dict[str, str]) -> str:
    """Fills `{text}`, `{ticketId}`...; WhatsApp refuses parameters with new lines, tabs
    or runs of spaces, and longer than 1024 characters."""
    for key, value in values.items():
        pattern = pattern.replace("{" + key + "}", value)
    flat = _SPACES.sub(" ", pattern).strip() or "-"
    return flat if len(flat) <= PARAMETER_LIMIT else flat[: PARAMETER_LIMIT - 1] + "…"


def graph_text(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


MEDIA_BY_LINK = frozenset({"image", "document", "audio", "video", "sticker"})
"""Attachment types WhatsApp fetches from a link; anything else goes as its URL in text."""


def message_body(
    to: str,
    text: str,
    template: WhatsAppTemplate | None,
    callback_data: str,
    media: dict[str, str | None] | None = None,
) -> dict[str, object]:
    """The send-message request. `biz_opaque_callback_data` comes back in every status
    report, which is how a report finds its message even when the send's answer was lost.
    `media` (`{type, url, filename}`) is one file of an agent's reply, sent by link."""
    body: dict[str, object] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to.removeprefix("+"),
        "biz_opaque_callback_data": callback_data[:512],
    }
    if media is not None:
        return body | _media(media)
    if template is None:
        body |= {"type": "text", "text": {"body": graph_text(text), "preview_url": False}}
        return body
    spec: dict[str, object] = {"name": template.name, "language": {"code": template.language}}
    if template.parameters:
        parameters = [{"type": "text", "text": value} for value in template.parameters]
        spec["components"] = [{"type": "body", "parameters": parameters}]
    return body | {"type": "template", "template": spec}


def _media(media: dict[str, str | None]) -> dict[str, object]:
    kind, url, filename = media.get("type") or "", media.get("url") or "", media.get("filename")
    if kind not in MEDIA_BY_LINK:
        return {"type": "text", "text": {"body": url, "preview_url": True}}
    part: dict[str, object] = {"link": url}
    if kind == "document" and filename:
        part["filename"] = filename
    return {"type": kind, kind: part}
