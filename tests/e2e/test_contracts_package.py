"""The `tickets-contracts` distribution (packages/tickets-contracts) builds from this
repository, installs into an empty virtualenv without anything of the server, and its
typed client (`contracts.client.TicketsClient`) creates a ticket on the running system."""

import asyncio
import json
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.e2e.conftest import run
from tests.support.api import SERVICE, api_settings, whole_api
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "packages" / "tickets-contracts"
SERVER_PARTS = ("fastapi", "faststream", "beanie", "pymongo", "uvicorn", "openai", "socketio")

CREATE = """
import asyncio, sys, uuid
from contracts.actors import CustomerActor
from contracts.client import TicketsClient
from contracts.commands import CreateTicket, CustomerByPhone
from contracts.enums import Source

async def main(url: str) -> None:
    async with TicketsClient(url, timeout=30) as tickets:
        ticket = await tickets.create(
            CreateTicket(
                actor=CustomerActor(phone="+34600000099"),
                title="Order not delivered",
                description="My order #12345 has not arrived yet.",
                source=Source.AI,
                customer=CustomerByPhone(phone="+34600000099"),
                idempotency_key=uuid.uuid4().hex,
            )
        )
    print(ticket.ticket_id)

asyncio.run(main(sys.argv[1]))
"""


def test_the_package_installs_without_the_server(contracts_python: Path) -> None:
    listed = json.loads(run(contracts_python, "-m", "pip", "list", "--format", "json"))
    names = {item["name"].lower().replace("_", "-") for item in listed}
    assert "tickets-contracts" in names
    assert {"pydantic", "aio-pika"} <= names
    assert not names & set(SERVER_PARTS), names & set(SERVER_PARTS)
    outside = ROOT.parent  # run from elsewhere: the repository is not on the path
    probe = (
        "import contracts, contracts.asyncapi as a; print(contracts.__file__); a.build_document()"
    )
    where = run(contracts_python, "-c", probe, cwd=outside).strip()
    assert "site-packages" in where
    for module in ("infra", "services", "tickets", "fastapi"):
        finished = subprocess.run(
            [contracts_python, "-c", f"import {module}"],
            capture_output=True,
            cwd=outside,
            check=False,
        )
        assert finished.returncode != 0, module


def test_the_package_version_is_the_servers() -> None:
    package = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert package["version"] == server["version"]


async def test_a_ticket_created_with_the_typed_client_of_the_package_alone(
    contracts_python: Path, endpoints: Endpoints, database: str, tmp_path: Path
) -> None:
    script = tmp_path / "create.py"
    script.write_text(CREATE)
    settings = api_settings(endpoints, database)
    async with whole_api(settings) as whole:
        process = await asyncio.create_subprocess_exec(
            contracts_python,
            script,
            settings.rabbitmq_url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=tmp_path,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == 0, err.decode()
        ticket_id = out.decode().strip()
        stored = await whole.http.get(f"/api/v2/tickets/{ticket_id}", headers=SERVICE)
    assert stored.status_code == 200, stored.text
    assert stored.json()["data"]["ticketId"] == ticket_id
