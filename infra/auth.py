"""Bearer JWTs for agents and API keys for services; the same rules guard REST, the
tool-call endpoint and Socket.IO connections. Also the JWT secret kept when none is
configured, shared by every service that issues or verifies tokens."""

import os
import secrets
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import jwt
from pydantic import BaseModel, ConfigDict, Field

from contracts.enums import AgentRole
from infra.files import private_directory
from infra.settings import Settings

ISSUER = "whatsapp-tickets"
CLOCK_SKEW_SECONDS = 60
SECRET_FILE = "jwt_secret"  # noqa: S105 - a file name, not a secret


def with_persistent_jwt_secret(settings: Settings) -> Settings:
    """Without TICKETS_JWT_SECRET or RS256 keys: a random secret, made once and kept in
    `<data_dir>/jwt_secret` (mode 0600), so tokens survive restarts."""
    if settings.jwt_secret or settings.jwt_private_key or settings.jwt_public_key:
        return settings
    path = settings.data_dir / SECRET_FILE
    private_directory(path.parent)
    secret = _kept_secret(path) or _keep_new_secret(path)
    return settings.model_copy(update={"jwt_secret": secret})


def _kept_secret(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        return None


def _keep_new_secret(path: Path) -> str:
    """Written whole to a temporary file (0600) first, so nobody ever reads part of it.
    It is then linked into place, which fails if the file exists: of two first starts,
    the one that links first gives both their secret. An empty file (a crash mid-write
    before writes were atomic) is replaced."""
    secret = secrets.token_urlsafe(48)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{SECRET_FILE}.")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(secret + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            kept = _kept_secret(path)
            if kept is not None:
                return kept
            temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return secret


class InvalidToken(Exception):
    """Missing, malformed, expired or wrongly signed token. The message is for the logs:
    callers are told only that their credentials are invalid (or expired)."""


class ExpiredToken(InvalidToken):
    """A token that was valid: the caller should ask for a new one."""


class InactiveAgent(InvalidToken):
    """A token we signed for an agent who no longer exists or was deactivated (only a
    holder of our own token learns this)."""


class TokenClaims(BaseModel):
    """Times are NumericDates (RFC 7519: JSON numbers); a string, a boolean, NaN or an
    infinity is refused rather than read as a number."""

    model_config = ConfigDict(strict=True)

    sub: str = Field(min_length=1, max_length=64)
    role: AgentRole = Field(strict=False)
    exp: float = Field(allow_inf_nan=False)
    iat: float = Field(allow_inf_nan=False)
    nbf: float | None = Field(default=None, allow_inf_nan=False)


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
        claims = TokenClaims.model_validate(
            {name: raw[name] for name in TokenClaims.model_fields if name in raw}
        )
    except (jwt.PyJWTError, ValueError) as error:
        raise InvalidToken(f"{type(error).__name__}: {error}"[:300]) from error
    moment = int(now.timestamp())
    if claims.exp <= moment:
        raise ExpiredToken("token expired")
    if claims.iat > moment + CLOCK_SKEW_SECONDS:
        raise InvalidToken("token issued in the future")
    if claims.nbf is not None and claims.nbf > moment + CLOCK_SKEW_SECONDS:
        raise InvalidToken("token not valid yet (nbf)")
    return claims


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise InvalidToken("missing Authorization header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("Authorization must be 'Bearer <token>'")
    return token.strip()
