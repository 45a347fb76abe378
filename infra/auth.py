"""Bearer JWTs for agents and API keys for services; the same rules guard REST, the
tool-call endpoint and Socket.IO connections."""

import hmac
from datetime import datetime, timedelta

import jwt
from pydantic import BaseModel

from contracts.enums import AgentRole
from infra.settings import Settings

ISSUER = "whatsapp-tickets"
CLOCK_SKEW_SECONDS = 60


class InvalidToken(Exception):
    """Missing, malformed, expired or wrongly signed token."""


class TokenClaims(BaseModel):
    sub: str
    role: AgentRole
    exp: int
    iat: int


def _signing_key(settings: Settings) -> tuple[str, str]:
    if settings.jwt_private_key:
        return settings.jwt_private_key, "RS256"
    if not settings.jwt_secret:
        raise InvalidToken("no JWT signing key configured (TICKETS_JWT_SECRET)")
    return settings.jwt_secret, "HS256"


def _verifying_key(settings: Settings) -> tuple[str, str]:
    if settings.jwt_public_key:
        return settings.jwt_public_key, "RS256"
    if not settings.jwt_secret:
        raise InvalidToken("no JWT verification key configured (TICKETS_JWT_SECRET)")
    return settings.jwt_secret, "HS256"


def issue_token(
    settings: Settings,
    agent_id: str,
    role: AgentRole,
    now: datetime,
    ttl: timedelta | None = None,
) -> str:
    key, algorithm = _signing_key(settings)
    lifetime = ttl or timedelta(seconds=settings.jwt_ttl_seconds)
    claims = {
        "sub": agent_id,
        "role": str(role),
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
    }
    return jwt.encode(claims, key, algorithm=algorithm)


def verify_token(settings: Settings, token: str, now: datetime) -> TokenClaims:
    """Checks signature, issuer and expiry against `now` (the caller's clock)."""
    key, algorithm = _verifying_key(settings)
    try:
        raw = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            issuer=ISSUER,
            # Times are checked below against the caller's clock, not PyJWT's wall clock.
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["sub", "exp", "iat", "role"],
            },
        )
        claims = TokenClaims.model_validate(raw)
    except (jwt.PyJWTError, ValueError) as error:
        raise InvalidToken(str(error)) from error
    if claims.exp <= int(now.timestamp()):
        raise InvalidToken("token expired")
    if claims.iat > int(now.timestamp()) + CLOCK_SKEW_SECONDS:
        raise InvalidToken("token issued in the future")
    return claims


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise InvalidToken("missing Authorization header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("Authorization must be 'Bearer <token>'")
    return token.strip()


def valid_api_key(settings: Settings, key: str | None) -> bool:
    """Constant-time comparison against every configured key (as bytes: a header may carry
    any Latin-1 character, which `compare_digest` refuses in a str)."""
    if not key:
        return False
    given = key.encode()
    return any(hmac.compare_digest(given, known.encode()) for known in settings.api_key_set)
