"""The `tickets-contracts` distribution (packages/tickets-contracts) builds from this
repository, installs into an empty virtualenv without anything of the server, and is
enough to create a ticket on the running system over RabbitMQ."""

import asyncio
import json
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

from tests.support.api import SERVICE, api_settings, whole_api
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "packages" / "tickets-contracts"
SERVER_PARTS = ("fastapi", "faststream", "beanie", "pymongo", "uvicorn", "openai", "socketio")

CREATE = """
import asyncio, json, sys, uuid
import aio_pika
from contracts import names
from contracts.commands import CreateTicket
from contracts.replies import ErrorReply, OkReply
from contracts.tickets import Ticket

async def main(url: str) -> None:
    command = CreateTicket.model_validate({
        "actor": {"type": "Customer", "phone": "+34600000099"},
        "title": "Order not delivered", "description": "My order #12345 has not arrived yet.",
        "source": "ai", "customer": {"phone": "+34600000099"},
        "idempotencyKey": uuid.uuid4().hex,
    })
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        replies = await channel.declare_queue(exclusive=True)
        body = json.dumps(command.to_wire()).encode()
        message = aio_pika.Message(body, reply_to=replies.name, correlation_id="c1",
                                   content_type="application/json")
        await channel.default_exchange.publish(message, routing_key=names.CREATE)
        async with replies.iterator(timeout=30) as answers:
            async for answer in answers:
                reply = json.loads(answer.body)
                break
    if not reply["ok"]:
        sys.exit(ErrorReply.model_validate(reply).error.message)
    ticket = Ticket.model_validate(OkReply.model_validate(reply).data)
    print(ticket.ticket_id)

asyncio.run(main(sys.argv[1]))
"""


def run(*command: str | Path, cwd: Path | None = None) -> str:
    finished = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, check=False, cwd=cwd
    )
    assert finished.returncode == 0, f"{command}\n{finished.stdout}\n{finished.stderr}"
    return finished.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with only the built wheel and its dependencies (the server's
    pins as constraints, so pip takes what this repository already uses)."""
    work = tmp_path_factory.mktemp("contracts-package")
    shutil.copytree(PACKAGE, work / "packages" / "tickets-contracts")
    shutil.copytree(
        ROOT / "contracts", work / "contracts", ignore=shutil.ignore_patterns("__pycache__")
    )
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        work / "packages" / "tickets-contracts",
        "-w",
        work / "dist",
    )
    [wheel] = (work / "dist").glob("tickets_contracts-*.whl")
    venv.create(work / "venv", with_pip=True)
    python = work / "venv" / "bin" / "python"
    constraints = ROOT / "requirements" / "runtime.txt"
    run(
        python,
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        wheel,
        "-c",
        constraints,
    )
    return python


def test_the_package_installs_without_the_server(installed: Path) -> None:
    listed = json.loads(run(installed, "-m", "pip", "list", "--format", "json"))
    names = {item["name"].lower().replace("_", "-") for item in listed}
    assert "tickets-contracts" in names
    assert {"pydantic", "aio-pika"} <= names
    assert not names & set(SERVER_PARTS), names & set(SERVER_PARTS)
    outside = ROOT.parent  # run from elsewhere: the repository is not on the path
    probe = (
        "import contracts, contracts.asyncapi as a; print(contracts.__file__); a.build_document()"
    )
    where = run(installed, "-c", probe, cwd=outside).strip()
    assert "site-packages" in where
    for module in ("infra", "services", "tickets", "fastapi"):
        finished = subprocess.run(
            [installed, "-c", f"import {module}"], capture_output=True, cwd=outside, check=False
        )
        assert finished.returncode != 0, module


def test_the_package_version_is_the_servers() -> None:
    package = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert package["version"] == server["version"]


async def test_a_ticket_created_with_the_package_alone(
    installed: Path, endpoints: Endpoints, database: str, tmp_path: Path
) -> None:
    script = tmp_path / "create.py"
    script.write_text(CREATE)
    settings = api_settings(endpoints, database)
    async with whole_api(settings) as whole:
        process = await asyncio.create_subprocess_exec(
            installed,
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
