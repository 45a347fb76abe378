"""Session-wide real infrastructure; each test gets its own database."""

import uuid
from collections.abc import AsyncIterator

import pytest

from infra.logging import configure_logging
from tests.support.infra import mongo_server, rabbit_vhost
from tests.support.system import Endpoints, drop_database


@pytest.fixture(scope="session")
async def endpoints() -> AsyncIterator[Endpoints]:
    configure_logging("WARNING")
    async with rabbit_vhost() as rabbit_url, mongo_server() as mongo_url:
        yield Endpoints(rabbit_url=rabbit_url, mongo_url=mongo_url)


@pytest.fixture
async def database(endpoints: Endpoints) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    await drop_database(endpoints, name)
