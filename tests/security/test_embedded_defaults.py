"""Finding: the embedded Mongo wire server accepted any local user without authentication
(an agent could be promoted to admin), and `var/` was 0755 and `mongo.sqlite` 0644
(tickets, phone numbers, notes, webhook secrets world-readable)."""

import os
import stat
from pathlib import Path

import pytest
from pymongo.errors import OperationFailure

from contracts import names
from infra.auth import with_persistent_jwt_secret
from infra.mongo import EmbeddedMongo, connect
from infra.settings import Settings
from tests.support.cli import clean_env, tickets_running
from tests.support.factories import create_body
from tests.support.system import Endpoints, client

pytestmark = pytest.mark.integration


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def without_credentials(uri: str) -> str:
    scheme, rest = uri.split("://", 1)
    return f"{scheme}://{rest.split('@', 1)[1].split('?', 1)[0]}?directConnection=true"


async def test_the_embedded_server_wants_its_generated_credentials(tmp_path: Path) -> None:
    server = EmbeddedMongo(tmp_path / "var" / "mongo.sqlite")
    uri = await server.start()
    try:
        async with connect(uri) as owner:
            await owner.tickets.agents.insert_one({"email": "ana@example.com", "role": "agent"})
        async with connect(without_credentials(uri)) as stranger:
            with pytest.raises(OperationFailure, match="Authentication required"):
                await stranger.tickets.agents.update_one({}, {"$set": {"role": "admin"}})
            with pytest.raises(OperationFailure, match="Authentication required"):
                await stranger.tickets.agents.find_one({})
        guessed = uri.replace("tickets:", "tickets:x", 1)
        async with connect(guessed) as guesser:
            with pytest.raises(OperationFailure, match="Authentication failed"):
                await guesser.tickets.agents.find_one({})
        async with connect(uri) as owner:
            agent = await owner.tickets.agents.find_one({})
    finally:
        await server.stop()
    assert agent is not None
    assert agent["role"] == "agent"
    assert EmbeddedMongo(tmp_path / "other.sqlite")._password != server._password  # per start


async def test_the_data_directory_is_0700_and_its_files_0600(tmp_path: Path) -> None:
    data = tmp_path / "var"
    settings = with_persistent_jwt_secret(Settings(data_dir=data))
    server = EmbeddedMongo(data / "mongo.sqlite")
    async with connect(await server.start()) as mongo:
        await mongo.tickets.notes.insert_one({"content": "card ends 4242"})
    await server.stop()
    assert settings.jwt_secret
    assert mode(data) == 0o700
    files = sorted(data.iterdir())
    assert {f.name for f in files} >= {"jwt_secret", "mongo.sqlite"}
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}


async def test_an_existing_open_data_directory_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    old = data / "mongo.sqlite"
    old.write_bytes(b"")
    os.chmod(data, 0o755)  # noqa: PTH101 - the state an older version left
    os.chmod(old, 0o644)  # noqa: PTH101
    server = EmbeddedMongo(old)
    await server.start()
    await server.stop()
    assert (mode(data), mode(old)) == (0o700, 0o600)


async def test_tickets_up_keeps_its_data_private(endpoints: Endpoints, tmp_path: Path) -> None:
    if os.environ.get("MONGODB_URL"):
        pytest.skip("this test is about the embedded default")
    data = tmp_path / "var"
    env = clean_env(RABBITMQ_URL=endpoints.rabbit_url, TICKETS_DATA_DIR=str(data))
    async with tickets_running("up", env=env), client(endpoints.rabbit_url) as (caller, _):
        await caller.ok(names.CREATE, create_body())
        modes = {f.name: mode(f) for f in data.iterdir()}
        directory = mode(data)
    assert directory == 0o700
    assert "jwt_secret" in modes  # made by `tickets up` without TICKETS_JWT_SECRET
    assert set(modes.values()) == {0o600}, modes
