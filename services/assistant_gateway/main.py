"""Composition root of the assistant gateway."""

import logging
from datetime import timedelta

from fastapi import APIRouter
from faststream.rabbit import RabbitRouter
from openai import AsyncOpenAI
from starlette.types import ASGIApp

from contracts.client import TicketsClient
from contracts.enums import Language
from infra import logging as log_context
from infra.ratelimit import COLLECTION as RATE_LIMITS
from infra.ratelimit import RateLimiter
from infra.runtime import Context
from infra.settings import Settings
from services.assistant_gateway.api import build_api
from services.assistant_gateway.budget import ConversationBudget
from services.assistant_gateway.conversation import Assistant
from services.assistant_gateway.directory import Directory
from services.assistant_gateway.documents import (
    INBOUND,
    ConversationStore,
    InboundLog,
    ToolJournal,
)
from services.assistant_gateway.domain.budget import Limits
from services.assistant_gateway.executor import ToolExecutor
from services.assistant_gateway.handlers import build_router
from services.assistant_gateway.inbound import InboundProcessor
from services.assistant_gateway.llm_client import ChatCompletionsModel, Model, ResponsesModel
from services.assistant_gateway.scripted_model import ScriptedModel

log = logging.getLogger(__name__)

JOURNAL_LEASE_SECONDS = 60.0
"""A journaled tool call left unfinished (its worker died) may run again after this."""


class AssistantGateway:
    name = "assistant_gateway"

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._executor: ToolExecutor | None = None
        self._processor: InboundProcessor | None = None
        self._client: AsyncOpenAI | None = None
        self._tickets: TicketsClient | None = None
        self._router = build_router(self.executor, self.processor)

    def executor(self) -> ToolExecutor:
        if self._executor is None:
            raise RuntimeError("assistant gateway not started")
        return self._executor

    def processor(self) -> InboundProcessor:
        if self._processor is None:
            raise RuntimeError("assistant gateway not started")
        return self._processor

    def settings(self) -> Settings:
        if self._settings is None:
            raise RuntimeError("assistant gateway not started")
        return self._settings

    def routers(self) -> list[RabbitRouter]:
        return [self._router]

    def http_routers(self) -> list[APIRouter]:
        return [build_api(self.executor)]

    def wrap_http(self, app: ASGIApp) -> ASGIApp:
        return app

    async def start(self, context: Context) -> None:
        settings = self._settings = context.settings
        options = settings.assistant
        database = context.mongo[settings.mongodb_database]
        await database[INBOUND].create_index("status")
        tickets = self._tickets = TicketsClient(
            settings.rabbitmq_url,
            timeout=options.ticket_timeout_seconds,
            trace=log_context.correlation_id.get,
        )
        journal = ToolJournal(database, timedelta(seconds=JOURNAL_LEASE_SECONDS), context.clock)
        await journal.upgrade()
        budget = ConversationBudget(
            RateLimiter(database[RATE_LIMITS]),
            Limits(
                options.max_tool_calls_per_conversation,
                options.max_notes_per_conversation,
                options.max_escalations_per_conversation,
            ),
            timedelta(seconds=options.conversation_window_seconds),
        )
        self._executor = ToolExecutor(
            tickets,
            Directory(database, context.clock, timedelta(seconds=options.language_memo_seconds)),
            journal,
            context.clock,
            Language(options.default_language),
            budget,
        )
        assistant = Assistant(
            self._model(settings, context.demo),
            self._executor,
            max_rounds=options.max_tool_rounds,
            turn_timeout=options.turn_timeout_seconds,
            turn_limits=Limits(
                options.max_tool_calls_per_turn,
                options.max_notes_per_turn,
                options.max_escalations_per_turn,
            ),
        )
        self._processor = InboundProcessor(
            broker=context.broker,
            tickets=tickets,
            executor=self._executor,
            assistant=assistant,
            conversations=ConversationStore(database, options.history_entries),
            inbound=InboundLog(database, timedelta(seconds=options.inbound_lease_seconds)),
            clock=context.clock,
        )

    def _model(self, settings: Settings, demo: bool) -> Model | None:
        if not settings.openai_api_key and demo:
            log.warning("OPENAI_API_KEY unset: the demo's scripted model answers customers")
            return ScriptedModel()
        if not settings.openai_api_key:
            log.warning("OPENAI_API_KEY unset: every WhatsApp message gets the fallback reply")
            return None
        options = settings.assistant
        self._client = AsyncOpenAI(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            timeout=options.model_timeout_seconds,
            max_retries=options.model_retries,
        )
        if options.api == "chat_completions":
            return ChatCompletionsModel(self._client, settings.openai_model)
        return ResponsesModel(self._client, settings.openai_model)

    async def started(self, context: Context) -> None:
        pass

    async def stop(self) -> None:
        """A turn still running when the model client closes answers nothing: its message
        is not acked, so RabbitMQ redelivers it (flagged) to the next instance."""
        if self._processor is not None:
            self._processor.stopping = True
        client, self._client = self._client, None
        if client is not None:
            await client.close()
        tickets, self._tickets = self._tickets, None
        if tickets is not None:
            await tickets.close()
