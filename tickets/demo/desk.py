"""The agent's side of the demo: the REST API (as the agent, with a bearer token, or as a
service, with the demo's API key) and the agent's live pushes over Socket.IO."""

import asyncio
from typing import Any

import httpx
import socketio

from tickets.demo.progress import StepFailed

API = "/api/v2"
HTTP_TIMEOUT_SECONDS = 10.0

Push = tuple[str, dict[str, Any]]


class Desk:
    """REST calls answered in the API's envelope; a refusal is a StepFailed with its
    status, code and message."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self._http = httpx.AsyncClient(base_url=base_url, timeout=HTTP_TIMEOUT_SECONDS)
        self._service = {"X-API-Key": api_key}
        self._agent: dict[str, str] = {}

    def sign_in(self, token: str) -> None:
        self._agent = {"Authorization": f"Bearer {token}"}

    async def as_service(self, method: str, path: str, **request: Any) -> Any:
        return await self._call(self._service, method, path, **request)

    async def as_agent(self, method: str, path: str, **request: Any) -> Any:
        return await self._call(self._agent, method, path, **request)

    async def raw(self, method: str, path: str, **request: Any) -> httpx.Response:
        """One request with the demo's API key, whatever the answer."""
        return await self._http.request(method, path, headers=self._service, **request)

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(
        self, credential: dict[str, str], method: str, path: str, **request: Any
    ) -> Any:
        headers = credential | request.pop("headers", {})
        answer = await self._http.request(method, API + path, headers=headers, **request)
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.is_success and isinstance(body, dict) and body.get("success"):
            return body.get("data")
        error = body.get("error") if isinstance(body, dict) else None
        code = body.get("code") if isinstance(body, dict) else None
        raise StepFailed(f"{method} {API}{path} answered {answer.status_code} {code}: {error}")


class AgentScreen:
    """What the agent's UI hears over Socket.IO, in order."""

    def __init__(self) -> None:
        self.pushes: list[Push] = []
        self._arrived = asyncio.Event()
        self._client = socketio.AsyncClient(reconnection=False)
        self._client.on("*", self._heard)

    async def connect(self, base_url: str, token: str) -> None:
        try:
            await self._client.connect(
                base_url, auth={"token": token}, transports=["websocket"], wait_timeout=10
            )
        except socketio.exceptions.ConnectionError as error:
            raise StepFailed(f"Socket.IO refused the agent: {error}") from None

    async def sees(self, event: str, ticket_id: str) -> dict[str, Any]:
        """The first push of `event` about the ticket (the caller bounds the wait)."""
        while True:
            for name, data in self.pushes:
                if name == event and data.get("ticketId") == ticket_id:
                    return data
            self._arrived.clear()
            await self._arrived.wait()

    async def close(self) -> None:
        if self._client.connected:
            await self._client.disconnect()

    async def _heard(self, event: str, data: Any) -> None:
        self.pushes.append((event, data if isinstance(data, dict) else {"data": data}))
        self._arrived.set()
