"""The block of docs/agents-day.md, run as written against `tickets up`: curl for the REST
calls, a real python-socketio client for the pushes, the WhatsApp side on the real broker.
The only change is the port (the test's server listens on a free one)."""

import asyncio
import os
import re
from pathlib import Path

import pytest

from tests.support.cli import EXIT_BOUND_SECONDS, clean_env, tickets_running
from tests.support.conversation import outbound
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
TICKET = re.compile(r"TICKET-\d{4}-\d{6}")


def docs_block(page: str, heading: str) -> str:
    """The first ```sh block after `heading` in docs/`page`."""
    text = (ROOT / "docs" / page).read_text()
    after = text[text.index(heading) :]
    start = after.index("```sh\n") + len("```sh\n")
    return after[start : after.index("\n```", start)]


async def run_bash(script: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-e",
        "-c",
        script,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), EXIT_BOUND_SECONDS * 4)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError("the walk-through did not finish") from None
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_agents_day_in_the_docs_runs_as_written(
    endpoints: Endpoints, tmp_path: Path
) -> None:
    if os.environ.get("MONGODB_URL"):
        pytest.skip("the walk-through runs on the embedded default")
    data = tmp_path / "var"
    env = clean_env(RABBITMQ_URL=endpoints.rabbit_url, TICKETS_DATA_DIR=str(data))
    session = tmp_path / "session"  # the commands' working directory, with the venv
    session.mkdir()
    (session / ".venv").symlink_to(ROOT / ".venv")
    async with outbound(endpoints.rabbit_url) as whatsapp, tickets_running("up", env=env) as up:
        script = docs_block("agents-day.md", "# An agent's day").replace(
            "http://127.0.0.1:8000", up.base
        )
        status, out, err = await run_bash(script, session, env)
        replies = list(whatsapp.messages)

    assert status == 0, err
    lines = out.splitlines()
    ticket_id = TICKET.search(out)
    assert ticket_id, out
    ticket = ticket_id.group()
    conversation = lines[0]
    assert conversation.startswith(
        "[('customer', 'Hola, mi pedido #12345 no ha llegado'), ('assistant', 'Gracias"
    ), out
    assert lines[1:5] == [
        "in_progress",
        "{'status': 'queued'}",
        "True",
        "['Hola, mi pedido #12345 no ha llegado', 'Es el 7781-ES']",
    ], out
    assert lines[5] == "resolved", out
    pushes = set(lines[6:])
    assert "connected" in pushes, out
    for event in ("ticket_created", "ticket_assigned", "ticket_message", "ticket_status_changed"):
        assert f"{event} {ticket}" in pushes, (event, out)
    # resolving also asks the customer to rate (docs/agents-desk.md); it may arrive late
    survey = f"Tu ticket {ticket} está resuelto"
    agent_replies = [
        r for r in replies if r.get("ticketId") == ticket and not r["text"].startswith(survey)
    ]
    assert [r["text"] for r in agent_replies] == [
        "Hola Lucía, soy Ana. ¿Me das el número de seguimiento?"
    ]
    assert agent_replies[0]["to"] == "+34600000001"
