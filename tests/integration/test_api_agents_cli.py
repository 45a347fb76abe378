"""`tickets agents create|token` as a person runs them, and their tokens on the REST API."""

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.support.api import api_client, api_settings
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

TICKETS = str(Path(sys.executable).with_name("tickets"))


async def tickets_cli(
    endpoints: Endpoints, database: str, data_dir: Path, *args: str
) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "MONGODB_URL": endpoints.mongo_url,
        "TICKETS_MONGODB_DATABASE": database,
        "TICKETS_DATA_DIR": str(data_dir),
        "TICKETS_LOG_LEVEL": "WARNING",
    }
    env.pop("TICKETS_JWT_SECRET", None)
    process = await asyncio.create_subprocess_exec(
        TICKETS, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode().strip(), err.decode().strip()


async def test_create_then_token_give_working_bearer_tokens_signed_with_the_kept_secret(
    endpoints: Endpoints, database: str, tmp_path: Path
) -> None:
    created = await tickets_cli(
        endpoints,
        database,
        tmp_path,
        "agents",
        "create",
        "--name",
        "Ana",
        "--email",
        "Ana@Example.com",
        "--role",
        "admin",
    )
    again = await tickets_cli(
        endpoints,
        database,
        tmp_path,
        "agents",
        "create",
        "--name",
        "Ana",
        "--email",
        "ana@example.com",
    )
    reissued = await tickets_cli(
        endpoints, database, tmp_path, "agents", "token", "ana@example.com"
    )
    unknown = await tickets_cli(
        endpoints, database, tmp_path, "agents", "token", "nobody@example.com"
    )
    secret_file = tmp_path / "jwt_secret"
    secret = secret_file.read_text().strip()
    settings = api_settings(endpoints, database).model_copy(update={"jwt_secret": secret})
    async with api_client(settings) as api:
        answers = [
            await api.get(
                "/api/v2/tickets/statistics", headers={"Authorization": f"Bearer {token}"}
            )
            for token in (created[1], reissued[1])
        ]
    assert created[0] == 0, created
    assert created[1].count(".") == 2  # stdout is the token alone
    assert "ana@example.com (admin)" in created[2]
    assert again[0] == 1
    assert "already exists" in again[2]
    assert reissued[0] == 0
    assert reissued[1] != ""
    assert unknown[0] == 1
    assert "no agent" in unknown[2]
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert len(secret) >= 32
    assert [a.status_code for a in answers] == [200, 200]
