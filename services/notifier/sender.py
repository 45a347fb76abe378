"""One webhook request: to a checked address of the target (see `targets`), signed with
the webhook's current secret and, during a rotation's overlap, its previous one too.

Never raises: every failure is an `Attempt` with the reason in one line, so a delivery
that cannot succeed runs out of attempts and ends `dead` instead of looping."""

import logging
from dataclasses import dataclass
from datetime import datetime

import httpx

from services.notifier.documents import Webhook
from services.notifier.domain.signing import SIGNATURE_HEADER, sign
from services.notifier.targets import (
    Resolver,
    Target,
    TargetRefused,
    checked_addresses,
    parse_target,
)

log = logging.getLogger(__name__)

USER_AGENT = "whatsapp-tickets-notifier/0.1"
MAX_ADDRESSES = 3
"""Checked addresses tried per attempt (the next only when connecting fails)."""


@dataclass(frozen=True, slots=True)
class Attempt:
    status_code: int | None
    error: str | None
    """None for a 2xx."""
    final: bool = False
    """No later attempt can succeed (the target is refused): the delivery is dead now."""


@dataclass(frozen=True, slots=True)
class Request:
    body: bytes
    headers: dict[str, str]
    now: datetime


class WebhookSender:
    def __init__(
        self,
        client: httpx.AsyncClient,
        resolver: Resolver,
        timeout: float,
        *,
        allow_private: bool,
    ) -> None:
        self._client = client
        self._resolver = resolver
        self._timeout = timeout
        self._allow_private = allow_private

    async def send(self, webhook: Webhook, request: Request) -> Attempt:
        try:
            target = parse_target(webhook.url)
            addresses = await checked_addresses(
                target, self._resolver, allow_private=self._allow_private
            )
        except ValueError as error:
            return Attempt(None, f"invalid target URL: {error}", final=True)
        except TargetRefused as refused:
            final = not str(refused).startswith("target host does not resolve")
            return Attempt(None, str(refused), final=final)
        try:
            return await self._post(target, addresses, webhook, request)
        except Exception as error:  # noqa: BLE001 - a failure httpx did not foresee is one attempt
            log.warning("webhook request failed", extra={"error": repr(error)[:300]})
            return Attempt(None, f"{type(error).__name__}: {error}"[:500])

    async def _post(
        self, target: Target, addresses: list[str], webhook: Webhook, request: Request
    ) -> Attempt:
        """The checked addresses in order, the next one only when a connection fails."""
        timestamp = int(request.now.timestamp())
        headers = {
            **request.headers,
            "Host": target.host_header,
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(webhook.signing_secrets(request.now), timestamp, request.body),
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        error: str | None = None
        for address in addresses[:MAX_ADDRESSES]:
            try:
                response = await self._client.post(
                    target.url_at(address),
                    content=request.body,
                    headers=headers,
                    timeout=self._timeout,
                    extensions=extensions,
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as failed:
                error = f"{type(failed).__name__}: {address}: {failed}"[:500]
                continue
            except httpx.HTTPError as failed:
                return Attempt(None, f"{type(failed).__name__}: {failed}"[:500])
            if response.is_success:
                return Attempt(response.status_code, None)
            return Attempt(response.status_code, f"HTTP {response.status_code}")
        return Attempt(None, error)
