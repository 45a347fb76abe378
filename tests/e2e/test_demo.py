"""`tickets demo` as a newcomer runs it: `tickets up --demo` on a free port, a temporary
data directory and the test virtual host, then the demo to a zero exit; what it claims is
checked again through the REST API with a key of our own. A demo that cannot run stops
with one line and exit status 1."""

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_startup_failures import assert_one_error_line
from tests.support.cli import clean_env, free_port, get, run_tickets, tickets_running
from tests.support.system import Endpoints
from tickets.demo.clock_api import PATH as CLOCK

pytestmark = pytest.mark.integration

SERVICES = {"ticket_service", "assistant_gateway", "sla_monitor", "notifier", "whatsapp_channel"}
SERIES = (
    "tickets_http_requests_total",  # every process
    "tickets_created_total",  # ticket_service
    "tickets_assistant_replies_total",  # assistant_gateway
    "tickets_sla_auto_closed_total",  # sla_monitor
    "tickets_notifier_",  # notifier
    "tickets_whatsapp_",  # whatsapp_channel
)
TICKET = re.compile(r"TICKET-\d{4}-\d{6}")


async def test_the_demo_tells_the_whole_story_against_tickets_up_demo(
    endpoints: Endpoints, tmp_path: Path
) -> None:
    env = clean_env(RABBITMQ_URL=endpoints.rabbit_url, TICKETS_DATA_DIR=str(tmp_path / "var"))
    async with tickets_running("up", "--demo", env=env, cwd=tmp_path) as up:
        health = await get(f"{up.base}/healthz")
        ready = await get(f"{up.base}/readyz")
        demo = await run_tickets("demo", "--url", up.base, env=env, cwd=tmp_path)
        metrics = await get(f"{up.base}/metrics")
        key = await run_tickets(
            "keys", "create", "--name", "checker", "--scope", "tickets", env=env
        )
        ticket_id = TICKET.findall(demo.stdout)[-1]
        api = f"{up.base}/api/v2"
        ticket = await get_with_key(f"{api}/tickets/{ticket_id}", key.stdout.strip())
        conversation = await get_with_key(f"{api}/tickets/{ticket_id}/messages", key.stdout.strip())

    assert "demo mode" in up.banner
    assert health.status_code == 200
    assert set(health.json()["services"]) == SERVICES
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"mongodb": "ok", "rabbitmq": "ok"}
    assert metrics.status_code == 200
    for series in SERIES:
        assert series in metrics.text, series
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert demo.plain_stderr == [], demo.stderr
    lines = demo.stdout.splitlines()
    steps = [line for line in lines if line.startswith("[")]
    assert len(steps) == 15, demo.stdout
    assert all(" ... ok (" in line for line in steps), demo.stdout
    assert "tickets: 1 (closed 1)" in demo.stdout
    assert lines[-1] == f"demo finished: {ticket_id} went from WhatsApp to closed"
    # what the demo said happened, as the system has it
    assert ticket["status"] == "closed"
    history = [(h["from"], h["to"], h["changedByType"]) for h in ticket["statusHistory"]]
    assert ("pending_customer", "in_progress", "Customer") in history
    assert history[-1] == ("resolved", "closed", "System")
    assert ticket["statusHistory"][-1]["automated"] is True
    assert ticket["sla"]["firstResponseMet"] is True
    texts = [(m["author"]["type"], m["text"]) for m in conversation]
    assert texts[0] == ("customer", "Hola, mi pedido #12345 no ha llegado")
    assert texts[1][0] == "assistant"
    assert texts[1][1].startswith(f"He abierto el ticket {ticket_id}")
    assert ("agent", "Hola Lucía, soy Ana. ¿Me das el número de seguimiento?") in texts
    assert ("customer", "Es el 7781-ES") in texts


async def get_with_key(url: str, key: str) -> Any:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.get(url, headers={"X-API-Key": key})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


async def test_the_demo_stops_with_one_line_when_no_system_answers(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    demo = await run_tickets("demo", "--url", url, env=clean_env(TICKETS_DATA_DIR=str(tmp_path)))
    assert demo.returncode == 1
    line = assert_one_error_line(
        demo.plain_stderr, f"demo step 1/15 (the system answers at {url})", "tickets up --demo"
    )
    assert demo.plain_stderr == [line]
    assert demo.stdout.splitlines()[-1].endswith("... FAILED")
    assert not (tmp_path / "mongo.sqlite").exists(), "nothing was written"


async def test_a_system_not_in_demo_mode_has_no_clock_and_the_demo_says_so(
    endpoints: Endpoints, tmp_path: Path
) -> None:
    key = "demo-test-key-of-at-least-32-bytes-0123"
    env = clean_env(
        RABBITMQ_URL=endpoints.rabbit_url,
        TICKETS_DATA_DIR=str(tmp_path / "var"),
        TICKETS_API_KEYS=key,
    )
    async with tickets_running("up", env=env, cwd=tmp_path) as up:
        clock = await post_status(f"{up.base}{CLOCK}", key)
        demo = await run_tickets("demo", "--url", up.base, env=env, cwd=tmp_path)
    assert "demo mode" not in up.banner
    assert clock == 404
    assert demo.returncode == 1
    line = assert_one_error_line(demo.plain_stderr, "demo step 3/15", "is not in demo mode")
    assert demo.plain_stderr == [line]


async def post_status(url: str, key: str) -> int:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(url, json={"advanceSeconds": 60}, headers={"X-API-Key": key})
    return answer.status_code
