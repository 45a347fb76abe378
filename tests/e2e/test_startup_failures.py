"""Start-up failures as an operator meets them: one line naming what is wrong and how to
fix it, a non-zero exit, no traceback; and a stop signal that ends the system promptly."""

import asyncio
import json
import signal
import socket
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pytest

from contracts import names
from infra.messaging import command_queue
from tests.support.cli import (
    clean_env,
    free_port,
    get,
    run_tickets,
    tickets_running,
)
from tests.support.factories import create_body
from tests.support.infra import rabbit_vhost
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration


def assert_one_error_line(stderr: list[str], *expected: str) -> str:
    """Exactly one line for a person, starting `tickets: error:`, containing `expected`."""
    errors = [line for line in stderr if line.startswith("tickets: error:")]
    assert len(errors) == 1, stderr
    assert not any("Traceback" in line for line in stderr), stderr
    for part in expected:
        assert part in errors[0], errors[0]
    return errors[0]


async def test_version() -> None:
    finished = await run_tickets("--version", env=clean_env())
    assert finished.returncode == 0
    assert finished.stdout.startswith("tickets 0.1.0")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TICKETS_SLA__TARGETS", "garbage", "TICKETS_SLA__TARGETS='garbage': expected JSON, e.g. "),
        ("TICKETS_HTTP_PORT", "eighty", "TICKETS_HTTP_PORT='eighty': expected a valid integer"),
        ("TICKETS_LOG_LEVEL", "loud", "TICKETS_LOG_LEVEL='loud': expected 'DEBUG'"),
        ("RABBITMQ_URL", "localhost", "RABBITMQ_URL: expected amqp[s]://"),
    ],
)
async def test_a_bad_setting_is_one_line_naming_the_variable_and_exit_2(
    variable: str, value: str, expected: str, tmp_path: Path
) -> None:
    env = clean_env(TICKETS_DATA_DIR=str(tmp_path), **{variable: value})
    finished = await run_tickets("up", env=env)
    assert finished.returncode == 2
    assert len(finished.plain_stderr) == 1
    assert_one_error_line(finished.plain_stderr, expected)
    assert finished.stdout == ""
    assert not (tmp_path / "mongo.sqlite").exists()


async def test_a_misspelt_variable_is_named_with_the_closest_known_one() -> None:
    env = clean_env(TICKETS_SLA_TARGETS="{}", TICKETS_HTTP_PORT="x")
    finished = await run_tickets("agents", "token", "ana@example.com", env=env)
    assert finished.returncode == 2
    assert finished.plain_stderr[0] == (
        "tickets: warning: unknown setting TICKETS_SLA_TARGETS is ignored; "
        "did you mean TICKETS_SLA__TARGETS?"
    )


@pytest.mark.parametrize(
    "command",
    [("up", "--port", "0"), ("agents", "create", "--name", "Ana", "--email", "ana@example.com")],
)
async def test_mongodb_unreachable_is_one_line_and_exit_1(
    command: tuple[str, ...], endpoints: Endpoints
) -> None:
    url = f"mongodb://127.0.0.1:{free_port()}/"
    env = clean_env(MONGODB_URL=url, RABBITMQ_URL=endpoints.rabbit_url)
    finished = await run_tickets(*command, env=env)
    assert finished.returncode == 1
    assert_one_error_line(
        finished.plain_stderr, f"MongoDB at {url} did not answer within 5 s", "MONGODB_URL"
    )


async def test_rabbitmq_unreachable_is_one_line_and_exit_1(endpoints: Endpoints) -> None:
    port = free_port()
    env = clean_env(
        MONGODB_URL=endpoints.mongo_url,
        TICKETS_MONGODB_DATABASE=f"t_{uuid.uuid4().hex[:12]}",
        RABBITMQ_URL=f"amqp://guest:secret-password@127.0.0.1:{port}/",
    )
    finished = await run_tickets("up", "--port", "0", env=env)
    assert finished.returncode == 1
    line = assert_one_error_line(
        finished.plain_stderr, f"RabbitMQ at amqp://guest@127.0.0.1:{port}/ cannot be reached"
    )
    assert "secret-password" not in finished.stderr + finished.stdout, line


async def test_a_missing_vhost_is_named_plainly(endpoints: Endpoints) -> None:
    parts = urlsplit(endpoints.rabbit_url)
    vhost = f"no-such-vhost-{uuid.uuid4().hex[:8]}"
    env = clean_env(
        MONGODB_URL=endpoints.mongo_url,
        TICKETS_MONGODB_DATABASE=f"t_{uuid.uuid4().hex[:12]}",
        RABBITMQ_URL=urlunsplit(parts._replace(path=f"/{vhost}")),
    )
    finished = await run_tickets("run", "notifier", "--port", "0", env=env)
    assert finished.returncode == 1
    assert_one_error_line(
        finished.plain_stderr, f"refused to open virtual host {vhost!r}", "does not exist"
    )


async def test_a_port_in_use_stops_before_anything_is_consumed(endpoints: Endpoints) -> None:
    async with rabbit_vhost() as rabbit_url:
        connection = await aio_pika.connect(rabbit_url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(
                names.CREATE, durable=True, arguments=command_queue(names.CREATE).arguments
            )
            body = json.dumps(create_body()).encode()
            await channel.default_exchange.publish(
                aio_pika.Message(body, reply_to="nobody"), routing_key=names.CREATE
            )
            with socket.socket() as taken:
                taken.bind(("127.0.0.1", 0))
                taken.listen()
                port = taken.getsockname()[1]
                env = clean_env(MONGODB_URL=endpoints.mongo_url, RABBITMQ_URL=rabbit_url)
                finished = await run_tickets("up", "--port", str(port), env=env)
            declared = await channel.declare_queue(names.CREATE, passive=True)
            waiting = declared.declaration_result.message_count
            await queue.purge()
    assert finished.returncode == 1
    assert_one_error_line(
        finished.plain_stderr, f"cannot listen on 127.0.0.1:{port}", "TICKETS_HTTP_PORT or --port"
    )
    assert waiting == 1


async def test_listening_is_printed_once_it_answers(endpoints: Endpoints, tmp_path: Path) -> None:
    env = clean_env(RABBITMQ_URL=endpoints.rabbit_url, TICKETS_DATA_DIR=str(tmp_path))
    async with tickets_running("up", env=env) as running:
        health = await get(f"{running.base}/healthz")
    assert health.status_code == 200
    assert health.json()["ok"] is True


async def test_ctrl_c_stops_promptly_and_loses_no_command(
    endpoints: Endpoints, tmp_path: Path
) -> None:
    """Commands published just before Ctrl-C are answered by this run or the next one;
    none is lost and none runs twice (the next ticket takes the next number)."""
    env = clean_env(RABBITMQ_URL=endpoints.rabbit_url, TICKETS_DATA_DIR=str(tmp_path))
    count = 10
    connection = await aio_pika.connect(endpoints.rabbit_url)
    async with connection:
        channel = await connection.channel()
        replies = await channel.declare_queue(exclusive=True)
        async with tickets_running("up", env=env) as running:
            for number in range(count):
                body = create_body(f"+3461{number:07d}", idempotencyKey=f"stop-{number}")
                message = aio_pika.Message(
                    json.dumps(body).encode(),
                    reply_to=replies.name,
                    correlation_id=str(number),
                    content_type="application/json",
                )
                await channel.default_exchange.publish(message, routing_key=names.CREATE)
            status = await running.interrupt(signal.SIGINT)
        assert status == 0
        assert not _children_left(tmp_path)
        async with tickets_running("up", env=env):
            answered = await _collect(replies, count)
    ticket_ids = {reply["data"]["ticketId"] for reply in answered.values()}
    assert sorted(answered) == sorted(str(n) for n in range(count))
    assert all(reply["ok"] for reply in answered.values())
    assert len(ticket_ids) == count
    assert max(ticket_ids).endswith(f"{count:06d}")


async def _collect(queue: aio_pika.abc.AbstractQueue, count: int) -> dict[str, dict[str, Any]]:
    answered: dict[str, dict[str, Any]] = {}
    async with asyncio.timeout(120), queue.iterator() as messages:
        async for message in messages:
            await message.ack()
            answered[str(message.correlation_id)] = json.loads(message.body)
            if len(answered) == count:
                break
    return answered


def _children_left(data_dir: Path) -> list[str]:
    """Embedded Mongo servers still running over this data directory."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "infra.embedded_mongo" in command and str(data_dir) in command:
            found.append(command)
    return found


async def test_a_half_configured_whatsapp_channel_names_what_is_missing(tmp_path: Path) -> None:
    env = clean_env(TICKETS_DATA_DIR=str(tmp_path), TICKETS_WHATSAPP__APP_SECRET="only-this")
    finished = await run_tickets("run", "whatsapp_channel", env=env)
    assert finished.returncode == 2
    assert_one_error_line(
        finished.plain_stderr,
        "the WhatsApp channel needs all four credentials: set TICKETS_WHATSAPP__VERIFY_TOKEN, "
        "TICKETS_WHATSAPP__ACCESS_TOKEN, TICKETS_WHATSAPP__PHONE_NUMBER_ID",
    )
