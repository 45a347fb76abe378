"""`whatsapp.outbound` to the Graph API: the 24-hour window, retries on a movable clock,
dead letters, at most one send per outbound message id (also when the sender is killed)."""

import asyncio
import json
import os
import random
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage

from contracts import names
from infra.clock import MovableClock
from infra.inbox import QUEUE_HEADER
from infra.messaging import DEAD_LETTERS
from tests.support.api import API_KEY
from tests.support.fake_meta import (
    APP_SECRET,
    PHONE_NUMBER_ID,
    TOKEN,
    VERIFY_TOKEN,
    VERSION,
    Answer,
    FakeGraph,
    change,
    fake_graph,
    notification,
    status,
    text,
)
from tests.support.system import Endpoints
from tests.support.waiting import eventually
from tests.support.whatsapp import (
    channel_app,
    channel_settings,
    delivery_tap,
    outbound_publisher,
    post_webhook,
    publish_outbound,
)

pytestmark = pytest.mark.integration

SERVICE = {"X-API-Key": API_KEY}
TICKET = "TICKET-2026-000042"


def new_phone() -> str:
    return f"+3462{random.randrange(10**7):07d}"


def start_clock() -> MovableClock:
    return MovableClock(datetime.now(UTC).replace(microsecond=0))


async def customer_writes(client: httpx.AsyncClient, phone: str, clock: MovableClock) -> None:
    message = text(f"wamid.{uuid.uuid4().hex}", phone, "hola", int(clock.now().timestamp()))
    response = await post_webhook(client, notification(change([message])))
    assert response.status_code == 200


@asynccontextmanager
async def rig(
    endpoints: Endpoints, database: str, clock: MovableClock, customer: str
) -> AsyncIterator[tuple[FakeGraph, RabbitBroker, httpx.AsyncClient]]:
    """The fake Graph API, a publisher on `whatsapp.outbound`, the channel on `clock`, and
    a customer who just wrote (their window is open)."""
    async with (
        fake_graph() as graph,
        outbound_publisher(endpoints.rabbit_url) as out,
        channel_app(channel_settings(endpoints, database, graph.url), clock) as (client, _),
    ):
        await customer_writes(client, customer, clock)
        yield graph, out, client


async def send_record(client: httpx.AsyncClient, send_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v2/whatsapp/sends/{send_id}", headers=SERVICE)
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()["data"]
    return record


async def wait_state(
    client: httpx.AsyncClient, send_id: str, state: str, timeout: float = 30
) -> dict[str, Any]:
    return await wait_field(client, send_id, "state", state, timeout)


async def wait_field(
    client: httpx.AsyncClient, send_id: str, name: str, value: object, timeout: float = 30
) -> dict[str, Any]:
    """The send once its `name` is `value` (polled: a positive marker)."""

    async def send() -> dict[str, Any] | None:
        response = await client.get(f"/api/v2/whatsapp/sends/{send_id}", headers=SERVICE)
        if response.status_code == 200 and response.json()["data"][name] == value:
            record: dict[str, Any] = response.json()["data"]
            return record
        return None

    return await eventually(send, what=f"send {send_id} with {name}={value!r}", timeout=timeout)


async def test_a_reply_inside_the_window_goes_as_text_outside_as_the_template_once(
    endpoints: Endpoints, database: str
) -> None:
    clock, customer = start_clock(), new_phone()
    async with rig(endpoints, database, clock, customer) as (graph, out, client):
        inside = await publish_outbound(out, to=customer, text="Lo miramos ya", ticketId=TICKET)
        sent_inside = await wait_state(client, inside, "sent")
        clock.advance(timedelta(hours=24))
        window = await client.get(f"/api/v2/whatsapp/customers/{customer}/window", headers=SERVICE)
        outside = await publish_outbound(
            out, to=customer, text="¿Sigue el problema?\nDinos algo", ticketId=TICKET
        )
        sent_outside = await wait_state(client, outside, "sent")
        await publish_outbound(out, messageId=inside, to=customer, text="Lo miramos ya")
        marker = await publish_outbound(out, to=customer, text="marker")
        await wait_state(client, marker, "sent")
    assert [s["type"] for s in graph.for_id(inside)] == ["text"]
    assert graph.for_id(inside)[0]["text"]["body"] == "Lo miramos ya"
    assert graph.for_id(inside)[0]["to"] == customer.removeprefix("+")
    assert (sent_inside["sentAs"], sent_inside["ticketId"]) == ("text", TICKET)
    assert sent_inside["whatsappMessageId"] == graph.accepted_for(inside)[0]["wamid"]
    assert window.json()["data"]["open"] is False
    [template] = graph.for_id(outside)
    assert template["type"] == "template"
    assert template["template"] == {
        "name": "ticket_update",
        "language": {"code": "es"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": TICKET},
                    {"type": "text", "text": "¿Sigue el problema? Dinos algo"},
                ],
            }
        ],
    }
    assert sent_outside["sentAs"] == "template"
    assert len(graph.for_id(inside)) == 1  # the redelivered copy was not sent again


async def test_refuse_mode_leaves_a_dead_letter_that_says_when_the_window_closed(
    endpoints: Endpoints, database: str
) -> None:
    clock, customer, stranger = start_clock(), new_phone(), new_phone()
    async with fake_graph() as graph:
        settings = channel_settings(endpoints, database, graph.url, outside_window="refuse")
        async with (
            outbound_publisher(endpoints.rabbit_url) as out,
            channel_app(settings, clock) as (client, _),
        ):
            await customer_writes(client, customer, clock)
            closes_at = clock.now() + timedelta(hours=24)
            clock.advance(timedelta(hours=30))
            late = await publish_outbound(out, to=customer, text="Hola de nuevo", ticketId=TICKET)
            never = await publish_outbound(out, to=stranger, text="Hola")
            csat = await publish_outbound(
                out,
                to=stranger,
                text="¿Qué tal te atendimos?",
                template={"name": "csat_request", "language": "es", "parameters": [TICKET]},
            )
            dead_late = await wait_state(client, late, "dead")
            dead_never = await wait_state(client, never, "dead")
            await wait_state(client, csat, "sent")
    assert graph.for_id(late) == []
    assert graph.for_id(never) == []
    assert dead_late["lastError"]["code"] == "window_closed"
    assert closes_at.isoformat() in dead_late["lastError"]["message"]
    assert dead_late["lastError"]["window"]["open"] is False
    assert "has not written" in dead_never["lastError"]["message"]
    assert graph.for_id(csat)[0]["template"]["name"] == "csat_request"


async def test_429_then_200_is_retried_after_retry_after_and_delivered_once(
    endpoints: Endpoints, database: str
) -> None:
    clock, customer = start_clock(), new_phone()
    async with rig(endpoints, database, clock, customer) as (graph, out, client):
        graph.add(
            Answer(
                429, {"error": {"code": 130429, "message": "Rate limit hit"}}, {"Retry-After": "30"}
            )
        )
        send_id = await publish_outbound(out, to=customer, text="Hola")
        waiting = await wait_state(client, send_id, "retrying")
        clock.advance(timedelta(seconds=30))
        sent = await wait_state(client, send_id, "sent")
    assert waiting["attempts"] == 1
    assert waiting["lastError"] == {"httpStatus": 429, "code": 130429, "message": "Rate limit hit"}
    assert datetime.fromisoformat(waiting["nextAttemptAt"]) == clock.now()
    assert sent["attempts"] == 2
    assert len(graph.for_id(send_id)) == 2
    assert len(graph.accepted_for(send_id)) == 1


async def test_a_permanent_error_is_a_dead_letter_after_temporary_ones(
    endpoints: Endpoints, database: str
) -> None:
    clock, customer = start_clock(), new_phone()
    async with (
        delivery_tap(endpoints.rabbit_url) as told,
        rig(endpoints, database, clock, customer) as (graph, out, client),
    ):
        graph.add(
            Answer(503),
            Answer(400, {"error": {"code": 131026, "message": "Message undeliverable"}}),
        )
        send_id = await publish_outbound(out, to=customer, text="Hola", ticketId=TICKET)
        await wait_state(client, send_id, "retrying")
        clock.advance(timedelta(seconds=2))  # the first backoff step
        dead = await wait_state(client, send_id, "dead")
        told_dead = await told.wait_where(messageId=send_id)
    assert told_dead["status"] == "failed"
    assert told_dead["error"] == {"code": 131026, "title": "Message undeliverable"}
    assert dead["delivery"]["status"] == "failed"
    assert dead["attempts"] == 2
    assert dead["lastError"] == {
        "httpStatus": 400,
        "code": 131026,
        "message": "Message undeliverable",
    }
    assert graph.accepted_for(send_id) == []


async def test_delivery_reports_move_forward_only_and_are_told_to_the_ticket_service(
    endpoints: Endpoints, database: str
) -> None:
    clock, customer = start_clock(), new_phone()
    async with (
        delivery_tap(endpoints.rabbit_url) as told,
        rig(endpoints, database, clock, customer) as (graph, out, client),
    ):
        read_id = await publish_outbound(out, to=customer, text="uno", ticketId=TICKET)
        failed_id = await publish_outbound(out, to=customer, text="dos", ticketId=TICKET)
        await wait_state(client, read_id, "sent")
        await wait_state(client, failed_id, "sent")
        read_wamid = graph.accepted_for(read_id)[0]["wamid"]
        failed_wamid = graph.accepted_for(failed_id)[0]["wamid"]
        ts = int(clock.now().timestamp())
        reports = [
            status(read_wamid, customer, "delivered", ts),
            status(read_wamid, customer, "read", ts + 1),
            status(read_wamid, customer, "sent", ts),  # late, out of order
            status(failed_wamid, customer, "failed", ts, error_code=131026),
        ]
        response = await post_webhook(client, notification(change(statuses=reports)))
        told_read = await told.wait_where(messageId=read_id, status="read")
        told_failed = await told.wait_where(messageId=failed_id, status="failed")
        read = await wait_field(client, read_id, "reportPending", False)
        failed = await send_record(client, failed_id)
    assert response.json()["data"]["statuses"] == 4
    assert read["delivery"]["status"] == "read"
    assert read["reportPending"] is False
    assert failed["delivery"]["status"] == "failed"
    assert failed["delivery"]["error"] == {
        "code": 131026,
        "title": "Message undeliverable",
        "detail": "The recipient cannot receive this message",
    }
    assert told_read == {
        "actor": {"type": "System"},
        "messageId": read_id,
        "ticketId": TICKET,
        "status": "read",
        "at": datetime.fromtimestamp(ts + 1, UTC).isoformat().replace("+00:00", "Z"),
        "sentAs": "text",
    }
    assert told_failed["error"]["code"] == 131026
    assert told.where(messageId=read_id, status="sent") == []  # never went backwards


async def test_an_outbound_body_that_is_not_a_message_goes_to_the_dead_letters(
    endpoints: Endpoints, database: str
) -> None:
    seen: list[tuple[bytes, dict[str, Any]]] = []
    arrived = asyncio.Event()
    watcher = RabbitBroker(endpoints.rabbit_url, logger=None)
    queue = RabbitQueue(f"test-dead-{uuid.uuid4().hex[:8]}", exclusive=True, auto_delete=True)

    @watcher.subscriber(queue, DEAD_LETTERS)
    async def collect(message: RabbitMessage) -> None:
        seen.append((message.body, dict(message.headers)))
        arrived.set()

    bad = [b"{not json", json.dumps({"to": "nobody", "text": "x"}).encode()]
    async with fake_graph() as graph:
        await watcher.start()
        try:
            async with (
                outbound_publisher(endpoints.rabbit_url) as out,
                channel_app(channel_settings(endpoints, database, graph.url)) as _,
            ):
                for body in bad:
                    await out.publish(body, queue=names.WHATSAPP_OUTBOUND, persist=True)
                await eventually(lambda: len(seen) >= 2, what="two dead letters", wake=arrived)
        finally:
            await watcher.stop()
    assert [body for body, _ in seen] == bad
    assert {headers[QUEUE_HEADER] for _, headers in seen} == {names.WHATSAPP_OUTBOUND}
    assert graph.sends == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def run_channel_process(
    endpoints: Endpoints, database: str, graph: FakeGraph, port: int
) -> asyncio.subprocess.Process:
    """`tickets run whatsapp_channel` as production runs it."""
    env = {
        **os.environ,
        "RABBITMQ_URL": endpoints.rabbit_url,
        "MONGODB_URL": endpoints.mongo_url,
        "TICKETS_MONGODB_DATABASE": database,
        "TICKETS_LOG_LEVEL": "WARNING",
        "TICKETS_WHATSAPP__VERIFY_TOKEN": VERIFY_TOKEN,
        "TICKETS_WHATSAPP__APP_SECRET": APP_SECRET,
        "TICKETS_WHATSAPP__ACCESS_TOKEN": TOKEN,
        "TICKETS_WHATSAPP__PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "TICKETS_WHATSAPP__GRAPH_BASE_URL": graph.url,
        "TICKETS_WHATSAPP__GRAPH_API_VERSION": VERSION,
        "TICKETS_WHATSAPP__SEND_POLL_SECONDS": "0.05",
    }
    tickets = Path(sys.executable).with_name("tickets")
    return await asyncio.create_subprocess_exec(
        str(tickets),
        "run",
        "whatsapp_channel",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
    )


async def test_a_sender_killed_during_the_call_never_sends_again_and_the_report_settles_it(
    endpoints: Endpoints, database: str
) -> None:
    clock, customer = start_clock(), new_phone()
    async with fake_graph() as graph, outbound_publisher(endpoints.rabbit_url) as out:
        settings = channel_settings(endpoints, database, graph.url)
        async with channel_app(settings, clock) as (client, _):
            await customer_writes(client, customer, clock)
        graph.add(Answer(200, hang=True))
        process = await run_channel_process(endpoints, database, graph, free_port())
        try:
            send_id = await publish_outbound(out, to=customer, text="Hola")
            await graph.wait_sends(send_id, 1, timeout=60)  # the process is in the call
        finally:
            process.send_signal(signal.SIGKILL)
            await process.wait()
        clock.set(datetime.now(UTC) + timedelta(minutes=5))  # past the send lease
        async with channel_app(settings, clock) as (client, _):
            unknown = await wait_state(client, send_id, "unknown")
            marker = await publish_outbound(out, to=customer, text="marker")
            await wait_state(client, marker, "sent")
            report = status(
                "wamid.late",
                customer,
                "delivered",
                int(clock.now().timestamp()),
                callback_data=send_id,
            )
            await post_webhook(client, notification(change(statuses=[report])))
            settled = await send_record(client, send_id)
    assert unknown["attempts"] == 1
    assert len(graph.for_id(send_id)) == 1
    assert settled["state"] == "sent"
    assert settled["whatsappMessageId"] == "wamid.late"
    assert settled["delivery"]["status"] == "delivered"


async def test_whatsapps_window_error_turns_a_text_into_the_template(
    endpoints: Endpoints, database: str
) -> None:
    clock, customer = start_clock(), new_phone()
    async with rig(endpoints, database, clock, customer) as (graph, out, client):
        graph.add(Answer(400, {"error": {"code": 131047, "message": "Re-engagement message"}}))
        send_id = await publish_outbound(out, to=customer, text="Hola", ticketId=TICKET)
        sent = await wait_state(client, send_id, "sent")
    assert [s["type"] for s in graph.for_id(send_id)] == ["text", "template"]
    assert (sent["sentAs"], sent["windowClosed"], sent["attempts"]) == ("template", True, 2)


async def test_an_agents_files_follow_the_text_by_link_and_not_outside_the_window(
    endpoints: Endpoints, database: str
) -> None:
    clock, customer = start_clock(), new_phone()
    files = [
        {
            "url": "https://files.example.com/label-12345.pdf",
            "type": "document",
            "filename": "label.pdf",
        },
        {"url": "https://files.example.com/parcel.jpg", "type": "image"},
    ]
    async with (
        delivery_tap(endpoints.rabbit_url) as told,
        rig(endpoints, database, clock, customer) as (graph, out, client),
    ):
        inside = await publish_outbound(
            out, to=customer, text="Tu etiqueta", ticketId=TICKET, attachments=files
        )
        await wait_state(client, f"{inside}:file2", "sent")
        clock.advance(timedelta(hours=25))
        outside = await publish_outbound(
            out, to=customer, text="Otra vez", ticketId=TICKET, attachments=files[:1]
        )
        await wait_state(client, outside, "sent")
        refused = await wait_state(client, f"{outside}:file1", "dead")
        told_failed = await told.wait_where(messageId=outside, status="failed")
    sent = [s for s in graph.sends if s["biz_opaque_callback_data"].startswith(inside)]
    assert [s["type"] for s in sent] == ["text", "document", "image"]
    assert sent[1]["document"] == {
        "link": "https://files.example.com/label-12345.pdf",
        "filename": "label.pdf",
    }
    assert sent[2]["image"] == {"link": "https://files.example.com/parcel.jpg"}
    assert [s["type"] for s in graph.sends if s["biz_opaque_callback_data"] == outside] == [
        "template"
    ]
    assert graph.for_id(f"{outside}:file1") == []
    assert refused["lastError"]["code"] == "window_closed"
    assert "label.pdf" in told_failed["error"]["title"]
