"""What a started channel is made of; routes and handlers reach it through a getter
that answers None while the channel is off (not configured)."""

from collections.abc import Callable
from dataclasses import dataclass

from infra.clock import Clock
from infra.settings import Settings, WhatsAppSettings
from services.whatsapp_channel.graph import GraphClient
from services.whatsapp_channel.inbox import InboxStore
from services.whatsapp_channel.intake import WebhookIntake
from services.whatsapp_channel.sender import SendWorker
from services.whatsapp_channel.sends import SendStore


@dataclass
class ChannelParts:
    settings: Settings
    clock: Clock
    inbox: InboxStore
    sends: SendStore
    graph: GraphClient
    intake: WebhookIntake
    worker: SendWorker

    @property
    def options(self) -> WhatsAppSettings:
        return self.settings.whatsapp


Parts = Callable[[], ChannelParts | None]
