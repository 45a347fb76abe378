"""One structured log line per HTTP request, tied to a request id.

The id is the caller's `X-Request-ID` when it looks like one (1-64 letters, digits, `.`,
`_`, `-`), else a fresh one; it is returned in `X-Request-ID` and set as the correlation
id, so every log line the request causes carries it.
"""

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra import logging as log_context
from infra.asgi import StatusRecordingSend

log = logging.getLogger("tickets.http")

HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id_from(scope: Scope) -> str:
    incoming = Headers(scope=scope).get(HEADER)
    if incoming is not None and _VALID_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()

        def add_id(start: Message) -> None:
            MutableHeaders(scope=start)[HEADER] = request_id

        recording = StatusRecordingSend(send, add_id)
        token = log_context.correlation_id.set(request_id)
        try:
            await self.app(scope, receive, recording)
        finally:
            self._log(scope, state, request_id, recording.status, time.perf_counter() - started)
            log_context.correlation_id.reset(token)

    @staticmethod
    def _log(
        scope: Scope, state: dict[str, object], request_id: str, status: int, seconds: float
    ) -> None:
        fields: dict[str, object] = {
            "requestId": request_id,
            "method": scope.get("method"),
            "path": scope.get("path"),
            "status": status,
            "durationMs": round(seconds * 1000, 2),
        }
        ticket = (scope.get("path_params") or {}).get("ticketId")
        if ticket:
            fields["ticketId"] = ticket
        if state.get("caller"):
            fields["caller"] = state["caller"]
        log.info("http request", extra=fields)
