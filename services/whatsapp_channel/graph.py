"""The WhatsApp Cloud API over HTTP (Meta's Graph API): send a message, look up a media
id, download its bytes. Base URL, version, phone-number id and token come from settings."""

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from services.whatsapp_channel.domain.sending import GraphAnswer, parse_retry_after

log = logging.getLogger(__name__)

NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
"""Failures before the request left: safe to try again."""


class GraphUnavailable(Exception):
    """WhatsApp did not answer, or answered with a server error."""


class MediaNotFound(Exception):
    """WhatsApp does not know the media id (any more: ids live about 30 days)."""


@dataclass(frozen=True, slots=True)
class MediaInfo:
    url: str
    mime_type: str | None
    file_size: int | None


class GraphClient:
    def __init__(
        self,
        base_url: str,
        version: str,
        phone_number_id: str,
        token: str,
        timeout: float,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._root = f"{base_url.rstrip('/')}/{version.strip('/')}"
        self._phone_number_id = phone_number_id
        self._headers = {"Authorization": f"Bearer {token}"}
        self._client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def close(self) -> None:
        await self._client.aclose()

    async def send(self, body: dict[str, object], now: datetime) -> GraphAnswer:
        """Never raises for an HTTP or network failure: the answer says what happened."""
        url = f"{self._root}/{self._phone_number_id}/messages"
        try:
            response = await self._client.post(url, json=body, headers=self._headers)
        except NOT_SENT as error:
            return GraphAnswer(None, error_message=f"{type(error).__name__}: {error}"[:300])
        except httpx.HTTPError as error:
            message = f"no answer: {type(error).__name__}: {error}"[:300]
            return GraphAnswer(None, error_message=message, reached=True)
        return _answer(response, now)

    async def media_info(self, media_id: str) -> MediaInfo:
        try:
            response = await self._client.get(f"{self._root}/{media_id}", headers=self._headers)
        except httpx.HTTPError as error:
            raise GraphUnavailable(f"{type(error).__name__}: {error}") from error
        if response.status_code in (400, 404):
            raise MediaNotFound(media_id)
        if not response.is_success:
            raise GraphUnavailable(f"HTTP {response.status_code}")
        payload = _json(response)
        url = payload.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise GraphUnavailable("the media lookup carried no download URL")
        size = payload.get("file_size")
        mime = payload.get("mime_type")
        return MediaInfo(
            url, mime if isinstance(mime, str) else None, size if isinstance(size, int) else None
        )

    @asynccontextmanager
    async def download(self, url: str) -> AsyncIterator[httpx.Response]:
        """The media bytes as a streamed response (the URL needs the same token)."""
        try:
            async with self._client.stream("GET", url, headers=self._headers) as response:
                if response.status_code == 404:
                    raise MediaNotFound(url)
                if not response.is_success:
                    raise GraphUnavailable(f"HTTP {response.status_code}")
                yield response
        except httpx.HTTPError as error:
            raise GraphUnavailable(f"{type(error).__name__}: {error}") from error


def _answer(response: httpx.Response, now: datetime) -> GraphAnswer:
    payload = _json(response)
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
    if response.is_success:
        messages = payload.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else {}
        message_id = first.get("id") if isinstance(first, dict) else None
        if isinstance(message_id, str) and message_id:
            return GraphAnswer(response.status_code, whatsapp_message_id=message_id)
        return GraphAnswer(
            response.status_code, error_message="accepted without a message id", reached=True
        )
    error = payload.get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    return GraphAnswer(
        response.status_code,
        error_code=code if isinstance(code, int) else None,
        error_message=str(error.get("message") or f"HTTP {response.status_code}")[:500],
        retry_after=retry_after,
    )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return payload if isinstance(payload, dict) else {}
