"""Finding: weak secrets were accepted (`TICKETS_API_KEYS=k1`, `TICKETS_JWT_SECRET=abc`).
Now `tickets up` / `tickets run` refuse to start, in one line naming the variable."""

import asyncio
import os
import sys
from pathlib import Path

import pytest

from infra.secret_strength import WeakSecret, check_secrets
from infra.settings import Settings

TICKETS = str(Path(sys.executable).with_name("tickets"))
STRONG = "x" * 32


@pytest.mark.parametrize(
    ("variable", "settings"),
    [
        ("TICKETS_API_KEYS", Settings(api_keys="k1")),
        ("TICKETS_API_KEYS", Settings(api_keys=f"{STRONG},short")),
        ("TICKETS_JWT_SECRET", Settings(jwt_secret="abc")),
        ("TICKETS_JWT_SECRET", Settings(jwt_secret="")),
        ("TICKETS_METRICS_TOKEN", Settings(metrics_token="metrics")),
    ],
)
def test_weak_secrets_are_named(variable: str, settings: Settings) -> None:
    with pytest.raises(WeakSecret) as refused:
        check_secrets(settings)
    assert refused.value.variable == variable
    assert str(refused.value).startswith(f"{variable}: ")
    assert "k1" not in str(refused.value)
    assert "abc" not in str(refused.value)


def test_secrets_of_32_bytes_pass() -> None:
    check_secrets(Settings(api_keys=f"{STRONG}, {'y' * 40}", jwt_secret=STRONG))
    check_secrets(Settings())  # nothing configured: nothing to refuse


@pytest.mark.parametrize(
    ("command", "env", "variable"),
    [
        (["up"], {"TICKETS_JWT_SECRET": "abc"}, "TICKETS_JWT_SECRET"),
        (["run", "ticket_service"], {"TICKETS_API_KEYS": "k1"}, "TICKETS_API_KEYS"),
        (["run", "notifier"], {"TICKETS_METRICS_TOKEN": "short"}, "TICKETS_METRICS_TOKEN"),
    ],
)
async def test_the_command_refuses_to_start_in_one_line(
    command: list[str], env: dict[str, str], variable: str, tmp_path: Path
) -> None:
    environment = {**os.environ, "TICKETS_DATA_DIR": str(tmp_path), **env}
    process = await asyncio.create_subprocess_exec(
        TICKETS,
        *command,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    lines = err.decode().strip().splitlines()
    assert process.returncode == 2
    assert out == b""
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"tickets: error: {variable}: ")
    assert "at least 32 bytes" in lines[0]
