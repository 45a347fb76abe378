"""The one door policy of every HTTP API: each request under `/api/` is authenticated
and counted here, before any route runs or reads its body.

What a path takes is data (`DOORS`, first matching prefix): agents' bearer JWTs, service
API keys with a scope, or both. A route added under `/api/` gets the default door
without doing anything; only `PUBLIC` routes skip it. Then, in order:

1. no credential: 401; both an `Authorization` and an `X-API-Key`: 401 (one credential);
2. the client address or this very credential failed too often lately: 429;
3. the credential is checked (signature, expiry, the agent record, the key store); a
   failure counts against the address and the credential and answers 401;
4. a credential this door does not take (a key without the scope): 403;
5. one hit of the caller's request budget (per agent, per API key, each clock minute):
   429 when spent.

An API key this process admitted from the same address within `api_key_memo_seconds`
skips steps 2 and 3 (`infra.admitted`: the rules of that memo); step 5 always runs.

The identity is left in `scope["state"]["identity"]` for the routes, which only decide
what that identity may do. Refusals answer the REST envelope and never say more than
the caller needs (no parser or library messages); the reason is logged.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from infra.admitted import AdmittedKeys
from infra.api_keys import Scope as KeyScope
from infra.auth import ExpiredToken, InactiveAgent, InvalidToken, bearer_token
from infra.identity import AgentIdentity, Authenticator, Identity, ServiceIdentity
from infra.ratelimit import COLLECTION, RateLimiter, RequestCounter
from infra.rest import envelope_bytes
from infra.runtime import Context, Runtime

log = logging.getLogger(__name__)

REQUEST_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Door:
    prefix: str
    agents: bool
    """Agents' bearer JWTs are taken."""
    scope: KeyScope | None
    """API keys with this scope are taken (None: no API keys)."""

    @property
    def challenge(self) -> str:
        return "Bearer" if self.agents else "X-API-Key"


DOORS: tuple[Door, ...] = (
    Door("/api/v2/assistant/", agents=False, scope=KeyScope.ASSISTANT),
    Door("/api/v2/webhooks", agents=True, scope=None),
    Door("/api/", agents=True, scope=KeyScope.TICKETS),
)
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/api/v2/assistant/tools"),
        ("GET", "/api/v2/whatsapp/webhook"),  # Meta's verify token, checked by the route
        ("POST", "/api/v2/whatsapp/webhook"),  # Meta's body signature, checked by the route
    }
)
"""(method, path) pairs under `/api/` that the gate lets through: public, or authenticated
by the route itself with a scheme of another party."""


def door_for(method: str, path: str) -> Door | None:
    if (method, path) in PUBLIC or (method == "HEAD" and ("GET", path) in PUBLIC):
        return None
    return next((door for door in DOORS if path.startswith(door.prefix)), None)


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def unauthorized(door: Door, message: str) -> Refusal:
    return Refusal(401, "unauthorized", message, **{"WWW-Authenticate": door.challenge})


def too_many(message: str, wait: int) -> Refusal:
    return Refusal(
        429, "rate_limited", f"{message}; retry in {wait} seconds", **{"Retry-After": str(wait)}
    )


@dataclass(frozen=True, slots=True)
class Presented:
    """What the request carries, before anything is checked."""

    api_key: str | None
    authorization: str | None
    address: str

    @property
    def logged(self) -> dict[str, str]:
        return {"address": self.address, "credential": self.fingerprint}

    @property
    def fingerprint(self) -> str:
        raw = f"{self.api_key}\n{self.authorization}".encode("utf-8", "surrogateescape")
        return hashlib.sha256(raw).hexdigest()[:24]


def presented(scope: Scope) -> Presented:
    headers = Headers(scope=scope)
    client = scope.get("client")
    address = str(client[0]) if client else "unknown"
    # An empty header is no credential (some clients always send the header).
    key, authorization = headers.get("x-api-key") or None, headers.get("authorization") or None
    return Presented(key, authorization, address)


@dataclass(frozen=True, slots=True)
class Failures:
    """Failed authentications, counted per client address and per credential."""

    limiter: RateLimiter
    limits: list[tuple[str, int]]
    window: timedelta
    now: datetime

    @classmethod
    def of(
        cls, limiter: RateLimiter, context: Context, address: str, fingerprint: str
    ) -> "Failures":
        policy = context.settings
        limits = [
            (f"authfail:addr:{address}", policy.auth_failures_per_address),
            (f"authfail:cred:{fingerprint}", policy.auth_failures_per_credential),
        ]
        window = timedelta(seconds=policy.auth_failure_window_seconds)
        return cls(limiter, limits, window, context.clock.now())

    async def check(self) -> None:
        """Before the credential is even looked at: a blocked address or credential is
        refused whether or not the credential is good (no oracle for guessing)."""
        wait = await self.limiter.exhausted(self.limits, self.window, self.now)
        if wait is not None:
            raise too_many("Too many failed authentication attempts", wait)

    async def count(self) -> int | None:
        """Counts this failure; the wait when it reached a limit (answer 429, not 401)."""
        waits = [await self.limiter.hit(k, n, self.window, self.now) for k, n in self.limits]
        return max((w for w in waits if w is not None), default=None)


@dataclass(frozen=True, slots=True)
class _Parts:
    """What the gate builds once per started runtime."""

    context: Context
    authenticator: Authenticator
    limiter: RateLimiter
    requests: RequestCounter
    admitted: AdmittedKeys


class Gate:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self._built: _Parts | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        door = (
            door_for(scope.get("method", ""), scope.get("path", ""))
            if scope["type"] == "http"
            else None
        )
        if door is None:
            await self.app(scope, receive, send)
            return
        try:
            identity = await self._admit(door, presented(scope))
        except Refusal as refusal:
            await _refuse(refusal, send)
            return
        state = scope.setdefault("state", {})
        state["identity"], state["caller"] = identity, identity.budget_key
        await self.app(scope, receive, send)

    def _parts(self) -> _Parts:
        context = self.runtime.context
        if context is None:
            raise Refusal(503, "unavailable", "The service is starting; retry shortly")
        if self._built is None or self._built.context is not context:
            settings = context.settings
            database = context.mongo[settings.mongodb_database]
            self._built = _Parts(
                context,
                Authenticator(settings, context.clock, database),
                RateLimiter(database[COLLECTION]),
                RequestCounter(database[COLLECTION]),
                AdmittedKeys(timedelta(seconds=settings.api_key_memo_seconds)),
            )
        return self._built

    async def _admit(self, door: Door, given: Presented) -> Identity:
        parts = self._parts()
        if given.api_key is None and given.authorization is None:
            raise unauthorized(door, _missing(door))
        if given.api_key is not None and given.authorization is not None:
            raise unauthorized(door, "Send one credential: 'X-API-Key' or 'Authorization'")
        now = parts.context.clock.now()
        identity: Identity | None = None
        if door.scope is not None:  # a door that takes keys
            identity = parts.admitted.find(given.fingerprint, given.address, now)
        if identity is None:
            identity = await self._checked(door, given, parts)
            if isinstance(identity, ServiceIdentity):
                parts.admitted.remember(given.fingerprint, given.address, identity, now)
        _check_door(door, identity)
        wait = await parts.requests.hit(
            f"api:{identity.budget_key}",
            parts.context.settings.api_requests_per_minute,
            REQUEST_WINDOW,
            now,
        )
        if wait is not None:
            raise too_many("Too many requests", wait)
        return identity

    async def _checked(self, door: Door, given: Presented, parts: _Parts) -> Identity:
        """The full check: the failure limits first, then the credential itself."""
        failures = Failures.of(parts.limiter, parts.context, given.address, given.fingerprint)
        try:
            await failures.check()
            return await self._identify(door, given, parts.authenticator)
        except InvalidToken as error:
            log.info("authentication failed", extra={"reason": str(error), **given.logged})
            parts.admitted.forget(given.address)
            wait = await failures.count()
            if wait is not None:
                raise too_many("Too many failed authentication attempts", wait) from error
            raise unauthorized(door, _said(error)) from error
        except Refusal:
            raise
        except Exception as error:
            log.exception("authentication unavailable")
            raise Refusal(
                503, "unavailable", "Could not check credentials; retry shortly"
            ) from error

    @staticmethod
    async def _identify(door: Door, given: Presented, authenticator: Authenticator) -> Identity:
        if given.api_key is not None:
            if door.scope is None:
                raise unauthorized(door, _missing(door))
            return await authenticator.service(given.api_key)
        if not door.agents:
            raise unauthorized(door, _missing(door))
        return await authenticator.agent(bearer_token(given.authorization))


def _said(error: InvalidToken) -> str:
    """All a caller learns of a failure: nothing about why a credential is wrong, except
    to the holder of a token we signed that it expired or its agent is inactive."""
    if isinstance(error, ExpiredToken):
        return "Token expired"
    if isinstance(error, InactiveAgent):
        return "Unknown or inactive agent"
    return "Invalid credentials"


def _missing(door: Door) -> str:
    if door.agents and door.scope is not None:
        return "Missing credentials: send 'Authorization: Bearer <token>' or 'X-API-Key: <key>'"
    if door.agents:
        return "Missing credentials: send an agent's 'Authorization: Bearer <token>'"
    return "Missing credentials: send 'X-API-Key: <key>'"


def _check_door(door: Door, identity: Identity) -> None:
    if isinstance(identity, ServiceIdentity) and door.scope not in identity.scopes:
        raise Refusal(
            403, "forbidden", f"This API key may not call this route (needs scope {door.scope})"
        )
    if isinstance(identity, AgentIdentity) and not door.agents:
        raise Refusal(403, "forbidden", "This route is for services")


async def _refuse(refusal: Refusal, send: Send) -> None:
    body = envelope_bytes(refusal.code, refusal.message)
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in refusal.headers.items()),
    ]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
