"""Sends what `whatsapp.outbound` delivered to the store: claims due sends, decides text
or template by the customer's window, calls the Graph API and records the outcome.

Retries are times in the store (`nextAttemptAt`, from Retry-After or a doubling backoff)
compared with the clock, so a test moves the clock instead of sleeping.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from contracts.whatsapp import WhatsAppTemplate
from contracts.window import WindowState, window_closed_message, window_state
from infra.clock import Clock
from infra.loops import every
from services.whatsapp_channel import metrics
from services.whatsapp_channel.documents import SendRecord
from services.whatsapp_channel.domain.sending import (
    GraphAnswer,
    Outcome,
    RetryPolicy,
    SendPlan,
    SendState,
    Verdict,
    WindowRule,
    after_attempt,
    message_body,
    plan_send,
)
from services.whatsapp_channel.sends import ClaimedSend, DeliveryVerdict, SendStore

log = logging.getLogger(__name__)

LastInbound = Callable[[str], Awaitable[datetime | None]]
SendCall = Callable[[dict[str, object], datetime], Awaitable[GraphAnswer]]


@dataclass
class SendWorker:
    store: SendStore
    last_inbound: LastInbound
    send_call: SendCall
    clock: Clock
    policy: RetryPolicy
    rule: WindowRule
    lease: timedelta
    batch: int = 20
    reported: Callable[[], None] = lambda: None
    """Called when a send's delivery changed (the reporter tells the ticket service)."""
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        """Something new is due: look now instead of at the next poll."""
        self._wake.set()

    async def run(self, poll_seconds: float, stop: asyncio.Event) -> None:
        await every(poll_seconds, stop, self.run_once, "whatsapp-sender", self._wake)

    async def run_once(self) -> int:
        """Expires dead workers' claims, then sends what is due; returns how many."""
        now = self.clock.now()
        expired = await self.store.expire_claims(now)
        for send_id in expired:
            metrics.SENDS.labels("unknown").inc()
            log.warning("whatsapp send outcome unknown (worker died)", extra={"sendId": send_id})
        if expired:
            self.reported()
        claimed = await self.store.claim_due(now, self.lease, self.batch)
        await asyncio.gather(*(self._send_logged(send) for send in claimed))
        return len(claimed)

    async def _send_logged(self, claimed: ClaimedSend) -> None:
        """A failure to record the outcome leaves the claim to expire (then `unknown`)."""
        try:
            await self.send(claimed)
        except Exception:
            log.exception("whatsapp send failed", extra={"sendId": claimed.record.id})

    async def send(self, claimed: ClaimedSend) -> None:
        record = claimed.record
        window = await self.window_of(record.to)
        if record.window_closed:
            window = WindowState(False, window.last_inbound_at, window.closes_at)
        plan = self._plan(record, window)
        if plan.refusal is not None:
            error = {"code": "window_closed", "message": plan.refusal, "window": window.to_wire()}
            await self._finish(claimed, Outcome(Verdict.DEAD), {"lastError": error}, "refused")
            return
        now = self.clock.now()
        body = message_body(record.to, record.text, plan.template, record.id, record.media)
        answer = await self.send_call(body, now)
        outcome = after_attempt(self.policy, record.attempts, answer, self.clock.now())
        if outcome.verdict is Verdict.WINDOW_CLOSED and plan.template is not None:
            outcome = Outcome(Verdict.DEAD)  # a template is never refused for the window
        await self._finish(claimed, outcome, _fields(answer, plan, outcome), outcome.verdict)

    async def window_of(self, phone: str) -> WindowState:
        last = await self.last_inbound(phone)
        return window_state(last, self.clock.now())

    def _plan(self, record: SendRecord, window: WindowState) -> SendPlan:
        if record.media is not None:  # a file has no template form
            name = record.media.get("filename") or record.media.get("type")
            refusal = f"File {name} not sent: {window_closed_message(window)}"
            return SendPlan() if window.open else SendPlan(refusal=refusal)
        requested = None if record.template is None else WhatsAppTemplate(**record.template)
        values = {"ticketId": record.ticket_id or ""}
        return plan_send(record.text, requested, window, self.rule, values, record.purpose)

    async def _finish(
        self, claimed: ClaimedSend, outcome: Outcome, fields: dict[str, Any], label: str
    ) -> None:
        record = claimed.record
        now = self.clock.now()
        fields = {
            **fields,
            "state": _state(outcome),
            "nextAttemptAt": outcome.next_attempt_at or now,
        }
        if outcome.verdict is Verdict.SENT:
            fields["sentAt"] = now
        if outcome.verdict is Verdict.WINDOW_CLOSED:
            fields["windowClosed"] = True
        finished = await self.store.finish(claimed, fields, _delivery_verdict(fields, now))
        if not finished.recorded:
            log.warning("whatsapp send claim lost before recording", extra={"sendId": record.id})
            return
        if finished.delivery_changed:
            self.reported()
        metrics.SENDS.labels(str(label)).inc()
        log.info(
            "whatsapp send attempt",
            extra={
                "sendId": record.id,
                "ticketId": record.ticket_id,
                "attempt": record.attempts,
                "outcome": str(label),
                "nextAttemptAt": fields["nextAttemptAt"],
                "error": fields.get("lastError"),
            },
        )


def _state(outcome: Outcome) -> SendState:
    return {
        Verdict.SENT: SendState.SENT,
        Verdict.RETRY: SendState.RETRYING,
        Verdict.DEAD: SendState.DEAD,
        Verdict.UNKNOWN: SendState.UNKNOWN,
        Verdict.WINDOW_CLOSED: SendState.RETRYING,
    }[outcome.verdict]


def _fields(answer: GraphAnswer, plan: SendPlan, outcome: Outcome) -> dict[str, Any]:
    if outcome.verdict is Verdict.SENT:
        template = None if plan.template is None else plan.template.model_dump(by_alias=True)
        return {
            "whatsappMessageId": answer.whatsapp_message_id,
            "sentAs": "text" if plan.template is None else "template",
            "templateSent": template,
            "lastError": None,
        }
    return {"lastError": answer.error()}


def _delivery_verdict(fields: dict[str, Any], now: datetime) -> DeliveryVerdict | None:
    """What a dead or unknown send tells its delivery (none for the other states)."""
    if fields["state"] is SendState.DEAD:
        return DeliveryVerdict("failed", now, _delivery_error(fields.get("lastError")))
    if fields["state"] is SendState.UNKNOWN:
        return DeliveryVerdict("unknown", now)
    return None


def _delivery_error(error: object) -> dict[str, Any] | None:
    """`lastError` as a delivery error: `{code, title}`."""
    if not isinstance(error, dict):
        return None
    code = error.get("code") or error.get("httpStatus")
    return {"code": code, "title": str(error.get("message") or "send failed")[:1000]}
