"""A WhatsApp message in, the assistant's reply out on `whatsapp.outbound`.

Order of work, and what a crash at each point leaves (the inbound delivery is acked only
when this returns, so RabbitMQ redelivers it after a crash):

1. claim the message id in `assistant_inbound` (a duplicate delivery is answered once);
2. `tickets.v1.customer_message` (idempotent on the message id in the ticket service); a
   number answering a rating request is answered with the ticket service's text instead
   of 3;
3. run the model with the tools (ticket creation is idempotent per message and position);
4. append the turn to the conversation, record the reply (`replied`, only while the
   claim is still ours: a copy that took it over after our lease ran out answers);
5. send the message and the reply to the ticket's conversation (`tickets.v1.record_messages`,
   one-way and persistent: it waits in the queue while the ticket service is away), publish
   the reply (persistent, confirmed), mark the message `answered`.

A crash before 4 runs the turn again on redelivery; during 5 both are sent again (the
ticket service records each message once; the WhatsApp side may see the reply twice,
`replyTo` tells the copies apart).
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from faststream.rabbit import RabbitBroker
from pydantic import ValidationError

from contracts.actors import CustomerActor
from contracts.client import TicketClientError, TicketsClient
from contracts.commands import CustomerMessage
from contracts.replies import CustomerMessageOutcome
from contracts.whatsapp import WhatsAppInbound as InboundMessage
from contracts.whatsapp import WhatsAppOutbound
from infra.clock import Clock
from infra.inbox import RequeueNow
from infra.messaging import WHATSAPP_OUTBOUND, send_to_queue
from services.assistant_gateway.conversation import Assistant, TurnOutcome
from services.assistant_gateway.documents import ClaimOutcome, ConversationStore, InboundLog
from services.assistant_gateway.domain.messages import guess_language
from services.assistant_gateway.domain.ratings import rating_answer
from services.assistant_gateway.domain.transcript import AssistantMessage, Entry, UserMessage
from services.assistant_gateway.domain.turns import chosen_ticket, reply_id
from services.assistant_gateway.executor import Sender, ToolExecutor
from services.assistant_gateway.metrics import DUPLICATES, REPLIES
from services.assistant_gateway.recording import record_turn

log = logging.getLogger(__name__)

MODEL_TEXT_LIMIT = 4000


class ShuttingDown(RequeueNow):
    """The service stopped mid-turn: answer nothing, let RabbitMQ redeliver the message."""


@dataclass
class _KeyLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class KeyedLocks:
    """One lock per key, kept while anyone holds or waits for it (a waiter woken by a
    release has not taken the lock yet: dropping it then would let a newcomer in)."""

    def __init__(self) -> None:
        self._locks: dict[str, _KeyLock] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        entry = self._locks.setdefault(key, _KeyLock())
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._locks[key]


@dataclass
class InboundProcessor:
    broker: RabbitBroker
    tickets: TicketsClient
    executor: ToolExecutor
    assistant: Assistant
    conversations: ConversationStore
    inbound: InboundLog
    clock: Clock
    stopping: bool = False
    _locks: KeyedLocks = field(default_factory=KeyedLocks)

    async def process(self, message: InboundMessage, *, redelivered: bool) -> None:
        """One customer's messages are answered one at a time, in delivery order (within
        an instance; across instances the transcript append stays race-safe)."""
        async with self._locks.hold(message.sender):
            await self._process(message, redelivered=redelivered)

    async def _process(self, message: InboundMessage, *, redelivered: bool) -> None:
        claim = await self.inbound.claim(
            message.message_id, message.sender, self.clock.now(), redelivered=redelivered
        )
        if claim.outcome is ClaimOutcome.SKIP:
            DUPLICATES.inc()
            log.info("duplicate inbound message skipped", extra={"messageId": message.message_id})
            return
        if claim.outcome is ClaimOutcome.PUBLISH_AGAIN:
            assert claim.record is not None
            record = claim.record
            reply = record.reply or ""
            await self._record(message, reply, record.fallback, record.ticket_id)
            await self._publish(message, reply)
            REPLIES.labels("republished").inc()
            return
        rating = rating_answer(await self._tell_ticket_service(message))
        if rating is not None:  # the customer rated: the ticket service wrote the answer
            (reply, chosen), fallback, kind = rating, False, "rating"
            await self._remember(message, reply)
        else:
            outcome, chosen = await self._answer(message)
            reply, fallback = outcome.reply, outcome.fallback
            kind = "hand_off" if outcome.handed_off else "fallback" if fallback else "model"
        assert claim.holder is not None
        if not await self.inbound.replied(
            message.message_id, claim.holder, reply, fallback=fallback, ticket_id=chosen
        ):
            log.warning("inbound lease lost; the copy that took over answers")
            return
        await self._record(message, reply, fallback, chosen)
        await self._publish(message, reply)
        REPLIES.labels(kind).inc()

    async def _record(
        self, message: InboundMessage, reply: str, fallback: bool, ticket_id: str | None
    ) -> None:
        sender = Sender(message.sender, message.name).actor
        actor = sender.model_dump(mode="json", by_alias=True, exclude_none=True)
        await record_turn(self.broker, message, actor, reply, self.clock.now(), fallback, ticket_id)

    async def _answer(self, message: InboundMessage) -> tuple[TurnOutcome, str | None]:
        sender = Sender(message.sender, message.name, conversation_id=message.conversation_id)
        conversation = await self.conversations.load(message.sender)
        hint = guess_language(message.text) or conversation.language
        language = await self.executor.language_for(sender, hint)
        outcome = await self.assistant.turn(
            conversation.transcript,
            message.text[:MODEL_TEXT_LIMIT],
            sender,
            language,
            message.message_id,
        )
        if self.stopping:  # the model client is closed: a fallback now would be wrong
            raise ShuttingDown(message.message_id)
        await self.conversations.append(message.sender, outcome.entries, language, self.clock.now())
        return outcome, chosen_ticket(outcome.entries)

    async def _remember(self, message: InboundMessage, reply: str) -> None:
        """The rating exchange joins the transcript, so the model knows it later."""
        conversation = await self.conversations.load(message.sender)
        sender = Sender(message.sender, message.name)
        language = await self.executor.language_for(sender, conversation.language)
        entries: list[Entry] = [UserMessage(text=message.text), AssistantMessage(text=reply)]
        await self.conversations.append(message.sender, entries, language, self.clock.now())

    async def _tell_ticket_service(self, message: InboundMessage) -> CustomerMessageOutcome | None:
        """For the automatic transitions (resume, reopen, follow-up) and a rating request's
        answer; returns the outcome. Best effort: the customer still gets an answer if the
        ticket service is slow or refuses (None)."""
        try:
            command = CustomerMessage(
                actor=CustomerActor(phone=message.sender, name=message.name or None),
                message_id=message.message_id,
                text=message.text[:5000],
                conversation_id=message.conversation_id,
                received_at=message.timestamp,
            )
            return await self.tickets.customer_message(command)
        except (TicketClientError, ValidationError) as error:
            log.warning(
                "customer_message not applied",
                extra={"messageId": message.message_id, "reason": str(error)[:300]},
            )
            return None

    async def _publish(self, message: InboundMessage, reply: str) -> None:
        outbound = WhatsAppOutbound(to=message.sender, text=reply, reply_to=message.message_id)
        payload = outbound.model_dump(mode="json", by_alias=True, exclude_none=True)
        await send_to_queue(self.broker, WHATSAPP_OUTBOUND, payload, reply_id(message.message_id))
        await self.inbound.answered(message.message_id)
        log.info("reply published", extra={"messageId": message.message_id})
