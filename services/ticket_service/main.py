"""Composition root of the ticket service."""

import contextlib
from datetime import timedelta
from functools import partial
from typing import Any

from fastapi import APIRouter
from faststream.rabbit import RabbitRouter
from starlette.types import ASGIApp

from infra.claims import OnceByKey
from infra.loops import every
from infra.messaging import WHATSAPP_OUTBOUND, publish_event, send_to_queue
from infra.mongo import init_documents
from infra.ratelimit import COLLECTION as RATE_LIMITS
from infra.ratelimit import RateLimiter
from infra.runtime import Context
from infra.settings import Settings
from services.ticket_service.admission import CustomerCreations, creation_limits
from services.ticket_service.agents import AgentDirectory
from services.ticket_service.api.agents import build_directory_router
from services.ticket_service.api.customers import build_customers_router
from services.ticket_service.api.edits import build_edit_router
from services.ticket_service.api.messages import build_messages_router
from services.ticket_service.api.request_log import RequestLog
from services.ticket_service.api.sla import build_sla_router
from services.ticket_service.api.tickets import build_api
from services.ticket_service.conversation import Conversations
from services.ticket_service.creation import TicketCreator
from services.ticket_service.csat import CsatReplies, CsatRequester, CsatRequestStore
from services.ticket_service.csat_handlers import build_csat_router
from services.ticket_service.deliveries import DeliveryRecords
from services.ticket_service.documents import (
    DOCUMENT_MODELS,
    Customer,
    IdempotencyRecord,
    TicketCounter,
)
from services.ticket_service.handlers import build_router
from services.ticket_service.message_handlers import build_delivery_router, build_message_router
from services.ticket_service.messages import MessageStore
from services.ticket_service.nudges import WindowNudger
from services.ticket_service.recording import Recorder
from services.ticket_service.relay import OutboxRelay
from services.ticket_service.repository import (
    AgentRepository,
    CustomerRepository,
    TicketRepository,
)
from services.ticket_service.rollup_writer import RollupWriter
from services.ticket_service.sequence import SequenceAllocator
from services.ticket_service.statistics_handlers import build_statistics_router
from services.ticket_service.usecases import TicketUseCases


class TicketService:
    name = "ticket_service"

    def __init__(self) -> None:
        self._use_cases: TicketUseCases | None = None
        self._conversations: Conversations | None = None
        self._recorder: Recorder | None = None
        self._router = build_router(self.use_cases)
        self._message_router = build_message_router(self.recorder)
        self._delivery_router = build_delivery_router(self.deliveries)
        self._deliveries: DeliveryRecords | None = None
        self._csat: CsatRequester | None = None
        self._csat_router = build_csat_router(self.csat)
        self._rollups: RollupWriter | None = None
        self._statistics_router = build_statistics_router(self.rollups)
        self.relay: OutboxRelay | None = None
        self.numbers: SequenceAllocator | None = None
        self._settings: Settings | None = None
        self._limiter: RateLimiter | None = None
        self._directory: AgentDirectory | None = None

    def use_cases(self) -> TicketUseCases:
        if self._use_cases is None:
            raise RuntimeError("ticket service not started")
        return self._use_cases

    def conversations(self) -> Conversations:
        if self._conversations is None:
            raise RuntimeError("ticket service not started")
        return self._conversations

    def recorder(self) -> Recorder:
        if self._recorder is None:
            raise RuntimeError("ticket service not started")
        return self._recorder

    def deliveries(self) -> DeliveryRecords:
        if self._deliveries is None:
            raise RuntimeError("ticket service not started")
        return self._deliveries

    def csat(self) -> CsatRequester:
        if self._csat is None:
            raise RuntimeError("ticket service not started")
        return self._csat

    def rollups(self) -> RollupWriter:
        if self._rollups is None:
            raise RuntimeError("ticket service not started")
        return self._rollups

    def routers(self) -> list[RabbitRouter]:
        return [
            self._router,
            self._message_router,
            self._delivery_router,
            self._csat_router,
            self._statistics_router,
        ]

    def settings(self) -> Settings:
        if self._settings is None:
            raise RuntimeError("ticket service not started")
        return self._settings

    def directory(self) -> AgentDirectory:
        if self._directory is None:
            raise RuntimeError("ticket service not started")
        return self._directory

    def limiter(self) -> RateLimiter:
        if self._limiter is None:
            raise RuntimeError("ticket service not started")
        return self._limiter

    def http_routers(self) -> list[APIRouter]:
        return [
            build_api(self.use_cases, self.settings, self.limiter),
            build_sla_router(self.use_cases, self.settings, self.limiter),
            build_customers_router(self.use_cases, self.settings, self.limiter),
            build_edit_router(self.use_cases, self.settings, self.limiter),
            build_directory_router(self.use_cases, self.directory, self.settings, self.limiter),
            build_messages_router(self.conversations, self.use_cases, self.settings, self.limiter),
        ]

    def wrap_http(self, app: ASGIApp) -> ASGIApp:
        return RequestLog(app)

    async def start(self, context: Context) -> None:
        settings = self._settings = context.settings
        await init_documents(context.mongo, settings.mongodb_database, DOCUMENT_MODELS)
        tickets = TicketRepository()
        self._limiter = RateLimiter(context.mongo[settings.mongodb_database][RATE_LIMITS])
        lease = timedelta(seconds=settings.idempotency_lease_seconds)
        creations = CustomerCreations(Customer.get_pymongo_collection())
        self.numbers = SequenceAllocator(TicketCounter.get_pymongo_collection(), lease)
        self.relay = OutboxRelay(
            tickets.tickets,
            partial(publish_event, context.broker),
            context.clock,
            grace=timedelta(seconds=settings.relay_grace_seconds),
        )
        agents = AgentRepository()
        self._use_cases = TicketUseCases(
            tickets=tickets,
            customers=CustomerRepository(),
            agents=agents,
            idempotency=OnceByKey(IdempotencyRecord.get_pymongo_collection(), lease, context.clock),
            relay=self.relay,
            clock=context.clock,
            policy=settings.sla,
            creator=TicketCreator(
                tickets, creations, self.numbers, creation_limits(settings), context.clock
            ),
        )
        self._directory = AgentDirectory(
            agents, partial(publish_event, context.broker), context.clock
        )
        self._conversations = await self._conversation(context, self._use_cases)
        self._use_cases.settle_responses = self._conversations.settle
        self._recorder = Recorder(self._conversations)
        self._deliveries = DeliveryRecords(self._conversations)
        requests = CsatRequestStore(context.mongo[settings.mongodb_database])
        await requests.ensure_indexes()
        self._csat = CsatRequester(self._conversations, requests, settings.csat)
        replies = CsatReplies(requests, tickets, self._use_cases._commit, context.clock)
        self._use_cases.answer_rating = replies.answer
        database = context.mongo[settings.mongodb_database]
        self._rollups = RollupWriter(database, tickets.tickets, context.clock)
        await self._rollups.ensure_indexes()

    @staticmethod
    async def _conversation(context: Context, use_cases: TicketUseCases) -> Conversations:
        settings = context.settings
        store = MessageStore(context.mongo[settings.mongodb_database])
        await store.ensure_indexes()

        async def send(queue: str, payload: dict[str, Any], message_id: str) -> None:
            if queue != WHATSAPP_OUTBOUND.name:
                raise ValueError(f"no outbox route to queue {queue}")
            await send_to_queue(context.broker, WHATSAPP_OUTBOUND, payload, message_id)

        grace = timedelta(seconds=settings.relay_grace_seconds)
        relay = OutboxRelay(
            store.messages,
            partial(publish_event, context.broker),
            context.clock,
            key="_id",
            send=send,
            grace=grace,
        )
        refuse = settings.whatsapp.outside_window == "refuse"
        return Conversations(use_cases, store, relay, grace, refuse_outside_window=refuse)

    async def started(self, context: Context) -> None:
        relay = self.relay
        assert relay is not None
        interval = context.settings.relay_sweep_seconds
        context.spawn("outbox-relay", lambda: relay.run(interval, context.stop))
        conversations = self.conversations()
        context.spawn(
            "conversation-sweep",
            lambda: every(interval, context.stop, conversations.sweep, "conversation sweep"),
        )
        numbers = self.numbers
        assert numbers is not None
        context.spawn(
            "ticket-numbers", lambda: every(interval, context.stop, numbers.flush, "ticket numbers")
        )
        self._spawn_nudges(context, conversations)
        context.spawn("statistics-rebuild", self.rollups().rebuild_once)

    def _spawn_nudges(self, context: Context, conversations: Conversations) -> None:
        """Only with a nudge template configured: a reminder is sent as that template."""
        options = context.settings.whatsapp
        if options.nudge_template is None:
            return
        nudger = WindowNudger(conversations, options.nudge_before)
        interval = options.nudge_scan_seconds
        context.spawn(
            "window-nudges", lambda: every(interval, context.stop, nudger.scan, "window nudges")
        )

    async def stop(self) -> None:
        if self.numbers is not None:
            with contextlib.suppress(Exception):  # left behind, the entries are taken over later
                await self.numbers.flush()
        self._use_cases = None
        self._conversations = None
        self._recorder = None
        self._deliveries = None
        self._csat = None
        self._rollups = None
