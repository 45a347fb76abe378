"""The integration examples the docs quote (docs/examples/), run as written against
`tickets up`: the events consumer with nothing but the installed `tickets-contracts` wheel
receives a real `ticket.created`; the webhook receiver accepts the notifier's real
deliveries and refuses a delivery whose body or signature was changed."""

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from contracts.actors import CustomerActor
from contracts.client import TicketsClient
from contracts.commands import CreateTicket, CustomerByPhone
from contracts.enums import Source
from contracts.tickets import Ticket
from tests.support.cli import EXIT_BOUND_SECONDS, clean_env, run_tickets, tickets_running
from tests.support.notifier_system import receiving
from tests.support.system import Endpoints
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
WEBHOOK_SECRET = "whsec_docs_example_0123456789abcdef0123"


@asynccontextmanager
async def example(
    python: Path | str, name: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """docs/examples/`name` as its docstring says to run it, stopped at the end."""
    process = await asyncio.create_subprocess_exec(
        python,
        EXAMPLES / name,
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def line_starting(process: asyncio.subprocess.Process, prefix: str) -> str:
    """The first line of the example's output that starts with `prefix`."""
    assert process.stdout is not None
    async with asyncio.timeout(EXIT_BOUND_SECONDS):
        while line := (await process.stdout.readline()).decode():
            if line.startswith(prefix):
                return line.strip()
    assert process.stderr is not None
    raise AssertionError(f"the example ended: {(await process.stderr.read()).decode()}")


async def create_ticket(rabbit_url: str, phone: str) -> Ticket:
    async with TicketsClient(rabbit_url, timeout=30) as tickets:
        return await tickets.create(
            CreateTicket(
                actor=CustomerActor(phone=phone),
                title="Order not delivered",
                description="My order #12345 has not arrived yet.",
                source=Source.AI,
                customer=CustomerByPhone(phone=phone),
                idempotency_key=uuid.uuid4().hex,
            )
        )


async def delivery_statuses(
    http: httpx.AsyncClient, base: str, webhook_id: str, headers: dict[str, str]
) -> list[str]:
    """The webhook's deliveries once none is still on its way (the notifier records the
    outcome just after the receiver answered)."""

    async def settled() -> list[str] | None:
        reply = await http.get(f"{base}/api/v2/webhooks/{webhook_id}/deliveries", headers=headers)
        if reply.status_code != 200:
            raise RuntimeError(f"deliveries refused: {reply.text}")
        statuses = [delivery["status"] for delivery in reply.json()["data"]]
        return statuses if statuses and "pending" not in statuses else None

    return await eventually(
        settled, what="the deliveries settled", timeout=EXIT_BOUND_SECONDS, interval=0.1
    )


async def test_the_events_consumer_receives_a_real_ticket_created(
    contracts_python: Path, endpoints: Endpoints, tmp_path: Path
) -> None:
    env = clean_env(RABBITMQ_URL=endpoints.rabbit_url, TICKETS_DATA_DIR=str(tmp_path / "var"))
    queue = f"docs-example-{uuid.uuid4().hex}"
    async with (
        tickets_running("up", env=env),
        example(
            contracts_python,
            "events_consumer.py",
            endpoints.rabbit_url,
            queue,
            "ticket.*",
            cwd=tmp_path,  # not the repository: `contracts` comes from the installed wheel
        ) as consumer,
    ):
        await line_starting(consumer, "ready")
        ticket = await create_ticket(endpoints.rabbit_url, "+34600000123")
        received = await line_starting(consumer, "ticket.created")

    assert received == f"ticket.created {ticket.ticket_id} {ticket.priority} {ticket.customer_id}"


async def test_the_webhook_receiver_accepts_real_deliveries_and_refuses_tampered_ones(
    endpoints: Endpoints, tmp_path: Path
) -> None:
    env = clean_env(
        RABBITMQ_URL=endpoints.rabbit_url,
        TICKETS_DATA_DIR=str(tmp_path / "var"),
        TICKETS_NOTIFIER__WEBHOOK_ALLOW_PRIVATE_TARGETS="true",  # receivers on loopback
    )
    receiver_env = clean_env(WEBHOOK_SECRET=WEBHOOK_SECRET)
    async with (
        tickets_running("up", env=env) as up,
        example(
            sys.executable, "webhook_receiver.py", "0", cwd=tmp_path, env=receiver_env
        ) as verifier,
        receiving() as capture,  # the same deliveries, kept byte for byte to tamper with
        httpx.AsyncClient(timeout=30) as http,
    ):
        port = (await line_starting(verifier, "listening on port")).rsplit(" ", 1)[1]
        verifier_url = f"http://127.0.0.1:{port}/hooks/tickets"
        root = ("--name", "Root", "--email", "root@example.com", "--role", "admin")
        admin = await run_tickets("agents", "create", *root, env=env)
        assert admin.returncode == 0, admin.stderr
        headers = {"Authorization": f"Bearer {admin.stdout.strip()}"}
        hooks: dict[str, str] = {}
        for url in (verifier_url, capture.url):
            registered = await http.post(
                f"{up.base}/api/v2/webhooks",
                headers=headers,
                json={"url": url, "events": ["ticket.created"], "secret": WEBHOOK_SECRET},
            )
            assert registered.status_code == 201, registered.text
            hooks[url] = registered.json()["data"]["id"]

        ticket = await create_ticket(endpoints.rabbit_url, "+34600000124")
        accepted = await line_starting(verifier, "accepted")
        async with asyncio.timeout(EXIT_BOUND_SECONDS):
            await capture.arrived.wait()

        real = capture.requests[0]
        signature = real.headers["X-Tickets-Signature"]
        forwarded = {"Content-Type": "application/json", "X-Tickets-Signature": signature}
        replayed = await http.post(verifier_url, content=real.body, headers=forwarded)
        other_body = real.body.replace(ticket.ticket_id.encode(), b"TICKET-2026-999999")
        tampered_body = await http.post(verifier_url, content=other_body, headers=forwarded)
        flipped = signature[:-1] + ("1" if signature.endswith("0") else "0")
        forged = forwarded | {"X-Tickets-Signature": flipped}
        tampered_signature = await http.post(verifier_url, content=real.body, headers=forged)
        unsigned = await http.post(verifier_url, content=real.body)
        refusals = [await line_starting(verifier, "refused") for _ in range(3)]
        statuses = await delivery_statuses(http, up.base, hooks[verifier_url], headers)

    assert accepted == f"accepted ticket.created {ticket.ticket_id}"
    assert statuses == ["delivered"]
    assert json.loads(real.body)["data"]["ticketId"] == ticket.ticket_id
    assert other_body != real.body
    assert replayed.status_code == 204  # the genuine bytes verify on any copy
    assert tampered_body.status_code == 401
    assert tampered_signature.status_code == 401
    assert unsigned.status_code == 401
    assert refusals == ["refused: bad signature"] * 3
