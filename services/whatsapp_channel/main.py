"""Composition root of the WhatsApp Cloud API channel (`tickets run whatsapp_channel`).

A fifth service rather than part of the assistant gateway: it is the only part that
speaks to Meta, it scales with webhook traffic rather than model calls, it must keep
answering webhooks while the model is slow or down, and a team with its own WhatsApp
pipeline leaves it off. It talks to the others only through `whatsapp.inbound` and
`whatsapp.outbound`.
"""

import logging
from datetime import timedelta

from fastapi import APIRouter
from faststream.rabbit import RabbitRouter
from faststream.rabbit.subscriber import RabbitSubscriber
from starlette.types import ASGIApp

from infra.runtime import Context
from infra.settings import WhatsAppSettings
from services.whatsapp_channel.api import build_api
from services.whatsapp_channel.domain.sending import RetryPolicy, TemplatePattern, WindowRule
from services.whatsapp_channel.graph import GraphClient
from services.whatsapp_channel.handlers import OutboundIntake, subscribe
from services.whatsapp_channel.inbox import InboxStore
from services.whatsapp_channel.intake import WebhookIntake
from services.whatsapp_channel.parts import ChannelParts
from services.whatsapp_channel.relay import InboundRelay
from services.whatsapp_channel.reports import DeliveryReporter
from services.whatsapp_channel.sender import SendWorker
from services.whatsapp_channel.sends import SendStore

log = logging.getLogger(__name__)


class WhatsAppChannel:
    name = "whatsapp_channel"

    def __init__(self) -> None:
        self.parts: ChannelParts | None = None
        self.relay: InboundRelay | None = None
        self.reporter: DeliveryReporter | None = None
        self._subscriber: RabbitSubscriber | None = None

    def routers(self) -> list[RabbitRouter]:
        return []

    def http_routers(self) -> list[APIRouter]:
        return [build_api(lambda: self.parts)]

    def wrap_http(self, app: ASGIApp) -> ASGIApp:
        return app

    async def start(self, context: Context) -> None:
        options = context.settings.whatsapp
        if not options.enabled:
            log.info("WhatsApp channel off (no TICKETS_WHATSAPP__* credentials set)")
            return
        database = context.mongo[context.settings.mongodb_database]
        inbox, sends = InboxStore(database), SendStore(database)
        await inbox.ensure_indexes()
        await sends.ensure_indexes()
        graph = _graph(options)
        self.relay = InboundRelay(
            inbox,
            context.broker,
            context.clock,
            lease=timedelta(seconds=options.publish_timeout_seconds * 2 + 5),
            publish_timeout=options.publish_timeout_seconds,
            grace=timedelta(seconds=options.relay_grace_seconds),
        )
        reporter = self.reporter = DeliveryReporter(
            sends, context.broker, options.publish_timeout_seconds
        )
        worker = _worker(options, sends, inbox, graph, context)
        worker.reported = reporter.wake
        self.parts = ChannelParts(
            settings=context.settings,
            clock=context.clock,
            inbox=inbox,
            sends=sends,
            graph=graph,
            intake=WebhookIntake(
                inbox,
                sends,
                self.relay,
                context.clock,
                options.phone_number_id or "",
                reported=reporter.wake,
            ),
            worker=worker,
        )

    async def started(self, context: Context) -> None:
        parts, relay, reporter = self.parts, self.relay, self.reporter
        if parts is None or relay is None or reporter is None:
            return
        options = parts.options
        await relay.declare()
        await reporter.declare()
        outbound = OutboundIntake(parts.sends, context.broker, context.clock, parts.worker.wake)
        self._subscriber = await subscribe(context.broker, outbound)
        context.spawn(
            "whatsapp-sender", lambda: parts.worker.run(options.send_poll_seconds, context.stop)
        )
        sweep = options.relay_sweep_seconds
        context.spawn("whatsapp-inbound-relay", lambda: relay.run(sweep, context.stop))
        context.spawn("whatsapp-delivery-reports", lambda: reporter.run(sweep, context.stop))
        log.info("WhatsApp channel started", extra={"phoneNumberId": options.phone_number_id})

    async def stop(self) -> None:
        subscriber, self._subscriber = self._subscriber, None
        if subscriber is not None:
            await subscriber.stop()
        if self.parts is not None:
            await self.parts.graph.close()


def _graph(options: WhatsAppSettings) -> GraphClient:
    return GraphClient(
        options.graph_base_url,
        options.graph_api_version,
        options.phone_number_id or "",
        options.access_token or "",
        options.request_timeout_seconds,
    )


def _worker(
    options: WhatsAppSettings,
    sends: SendStore,
    inbox: InboxStore,
    graph: GraphClient,
    context: Context,
) -> SendWorker:
    return SendWorker(
        store=sends,
        last_inbound=inbox.last_inbound,
        send_call=graph.send,
        clock=context.clock,
        policy=RetryPolicy(
            max_attempts=options.send_max_attempts,
            first_delay=timedelta(seconds=options.send_backoff_seconds),
            max_delay=timedelta(seconds=options.send_backoff_max_seconds),
            retry_after_max=timedelta(seconds=options.retry_after_max_seconds),
        ),
        rule=WindowRule(options.outside_window, _templates(options)),
        lease=timedelta(seconds=options.send_lease_seconds),
    )


def _templates(options: WhatsAppSettings) -> dict[str, TemplatePattern]:
    templates: dict[str, TemplatePattern] = {}
    if options.template_name:
        parameters = tuple(options.template_parameters)
        templates["reply"] = TemplatePattern(
            options.template_name, options.template_language, parameters
        )
    for purpose, setting in (("csat", options.csat_template), ("nudge", options.nudge_template)):
        if setting is not None:
            parameters = tuple(setting.parameters)
            templates[purpose] = TemplatePattern(setting.name, setting.language, parameters)
    return templates
