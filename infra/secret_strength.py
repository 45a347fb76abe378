"""Secrets too weak to guard anything are refused at start-up, in one line naming the
variable (never the value): a short API key or JWT secret can be guessed offline or
online, and nothing else in the system would notice."""

from infra.settings import Settings
from infra.startup import StartupError

MIN_SECRET_BYTES = 32
HOW = "make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


class WeakSecret(StartupError):
    """A secret setting below the minimum strength."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


def _size(value: str) -> int:
    return len(value.encode("utf-8", "surrogateescape"))


def check_secrets(settings: Settings) -> None:
    """Raises WeakSecret for the first setting that falls short."""
    keys = [key.strip() for key in settings.api_keys.split(",") if key.strip()]
    for position, key in enumerate(keys, start=1):
        if _size(key) < MIN_SECRET_BYTES:
            raise WeakSecret(
                "TICKETS_API_KEYS",
                f"key {position} of {len(keys)} is {_size(key)} bytes; each key must be at "
                f"least {MIN_SECRET_BYTES} bytes ({HOW})",
            )
    for variable, value in (
        ("TICKETS_JWT_SECRET", settings.jwt_secret),
        ("TICKETS_METRICS_TOKEN", settings.metrics_token),
    ):
        if value is not None and _size(value) < MIN_SECRET_BYTES:
            raise WeakSecret(
                variable,
                f"{_size(value)} bytes; it must be at least {MIN_SECRET_BYTES} bytes ({HOW})",
            )
