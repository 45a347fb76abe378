"""Meta's webhook into the channel: real ASGI client, real RabbitMQ (`whatsapp.inbound`
tapped), real Mongo wire server, Meta's signatures and payload shapes."""

import asyncio
import random
import uuid
from datetime import UTC, datetime

import pytest
from faststream.rabbit import RabbitBroker

from contracts import names
from infra.mongo import connect
from services.whatsapp_channel.domain.signature import SIGNATURE_HEADER, sign
from tests.support.api import API_KEY
from tests.support.fake_meta import (
    APP_SECRET,
    VERIFY_TOKEN,
    change,
    contacts,
    document,
    fake_graph,
    image,
    location,
    notification,
    signed,
    text,
)
from tests.support.system import Endpoints, settings_for
from tests.support.tcp_proxy import tcp_proxy
from tests.support.whatsapp import (
    WEBHOOK,
    agent_headers,
    channel_app,
    channel_settings,
    inbound_tap,
    post_webhook,
)

pytestmark = pytest.mark.integration


def new_phone() -> str:
    return f"+3461{random.randrange(10**7):07d}"


def new_wamid() -> str:
    return f"wamid.{uuid.uuid4().hex}"


def now_ts() -> int:
    return int(datetime.now(UTC).timestamp())


async def test_verification_answers_the_challenge_only_to_our_token(
    endpoints: Endpoints, database: str
) -> None:
    async with (
        fake_graph() as graph,
        channel_app(channel_settings(endpoints, database, graph.url)) as (client, _),
    ):
        good = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "11582"}
        answered = await client.get(WEBHOOK, params=good)
        refused = [
            await client.get(WEBHOOK, params={**good, "hub.verify_token": "guess"}),
            await client.get(WEBHOOK, params={**good, "hub.mode": "unsubscribe"}),
            await client.get(WEBHOOK, params={"hub.mode": "subscribe", "hub.challenge": "1"}),
        ]
    assert answered.status_code == 200
    assert answered.text == "11582"
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert refused[0].json() == {
        "success": False,
        "error": "Verification token does not match",
        "code": "forbidden",
    }


async def test_without_settings_the_channel_is_off_and_leaves_the_outbound_queue_alone(
    endpoints: Endpoints, database: str
) -> None:
    settings = settings_for(endpoints, database)
    async with channel_app(settings) as (client, _):
        verify = await client.get(WEBHOOK, params={"hub.mode": "subscribe"})
        body, headers = signed(notification())
        post = await client.post(WEBHOOK, content=body, headers=headers)
        broker = RabbitBroker(endpoints.rabbit_url, logger=None)
        await broker.connect()
        try:
            channel = await broker._connection.channel()  # type: ignore[union-attr]
            queue = await channel.declare_queue(names.WHATSAPP_OUTBOUND, durable=True)
            consumers = queue.declaration_result.consumer_count
        finally:
            await broker.stop()
    assert (verify.status_code, post.status_code) == (503, 503)
    assert post.json()["code"] == "not_configured"
    assert "TICKETS_WHATSAPP__APP_SECRET" in post.json()["error"]
    assert consumers == 0


async def test_only_posts_signed_with_the_app_secret_are_accepted_and_nothing_else_is_published(
    endpoints: Endpoints, database: str
) -> None:
    sender, refused_id, marker_id = new_phone(), new_wamid(), new_wamid()
    body, headers = signed(notification(change([text(refused_id, sender, "hola", now_ts())])))
    attempts = [
        (body, {**headers, SIGNATURE_HEADER: sign("not-the-app-secret", body)}),
        (body, {"Content-Type": "application/json"}),
        (body.replace(b"hola", b"HOLA"), headers),
        (body, {**headers, SIGNATURE_HEADER: "sha1=" + "0" * 40}),
    ]
    async with (
        fake_graph() as graph,
        inbound_tap(endpoints.rabbit_url) as tap,
        channel_app(channel_settings(endpoints, database, graph.url)) as (client, _),
    ):
        refusals = [await client.post(WEBHOOK, content=b, headers=h) for b, h in attempts]
        not_json_body = b"{not json"
        not_json = await client.post(
            WEBHOOK,
            content=not_json_body,
            headers={SIGNATURE_HEADER: sign(APP_SECRET, not_json_body)},
        )
        accepted = await post_webhook(
            client, notification(change([text(marker_id, sender, "marker", now_ts())]))
        )
        await tap.wait_for(marker_id)
    assert [r.status_code for r in refusals] == [403, 403, 403, 403]
    assert {r.json()["code"] for r in refusals} == {"forbidden"}
    assert not_json.status_code == 400
    assert accepted.status_code == 200
    assert tap.count(refused_id) == 0  # it would have arrived before the marker
    assert await stored_ids(endpoints, database, "whatsapp_inbox") == [marker_id]


async def stored_ids(endpoints: Endpoints, database: str, collection: str) -> list[str]:
    mongo = connect(endpoints.mongo_url)
    try:
        return [str(d["_id"]) async for d in mongo[database][collection].find({}, {"_id": 1})]
    finally:
        await mongo.close()


async def test_a_multi_entry_payload_publishes_each_message_once_even_when_delivered_again(
    endpoints: Endpoints, database: str
) -> None:
    ana, luis = new_phone(), new_phone()
    ids = [new_wamid() for _ in range(5)]
    ts = now_ts()
    payload = notification(
        change(
            [text(ids[0], ana, "Mi pedido no llegó", ts), image(ids[1], ana, "m-1", ts)],
            names={ana: "Ana"},
        ),
        change([location(ids[2], luis, ts)]),
        change([document(ids[3], ana, "m-2", "factura.pdf", ts), contacts(ids[4], luis, ts)]),
        entries=2,
    )
    marker = new_wamid()
    async with (
        fake_graph() as graph,
        inbound_tap(endpoints.rabbit_url) as tap,
        channel_app(channel_settings(endpoints, database, graph.url)) as (client, _),
    ):
        first = await post_webhook(client, payload)
        for message_id in ids:
            await tap.wait_for(message_id)
        again = await asyncio.gather(*(post_webhook(client, payload) for _ in range(3)))
        await post_webhook(client, notification(change([text(marker, ana, "fin", ts)])))
        await tap.wait_for(marker)
    assert first.status_code == 200
    assert first.json()["data"] == {
        "messages": 5,
        "new": 5,
        "published": 5,
        "statuses": 0,
        "skipped": 0,
    }
    assert [r.status_code for r in again] == [200, 200, 200]
    assert {r.json()["data"]["new"] for r in again} == {0}
    assert [tap.count(message_id) for message_id in ids] == [1, 1, 1, 1, 1]
    text_message = tap.body(ids[0])
    assert (text_message["from"], text_message["name"], text_message["text"]) == (
        ana,
        "Ana",
        "Mi pedido no llegó",
    )
    assert tap.body(ids[1])["attachments"] == [
        {"type": "image", "mediaId": "m-1", "mimeType": "image/jpeg", "sha256": "c2hhMjU2"}
    ]
    assert tap.body(ids[2])["attachments"][0]["location"]["name"] == "Puerta del Sol"
    assert tap.body(ids[3])["attachments"][0]["filename"] == "factura.pdf"
    assert tap.body(ids[4])["attachments"][0]["contacts"][0]["name"] == "Ana Pérez"


async def test_with_the_broker_away_the_webhook_answers_503_and_loses_nothing(
    endpoints: Endpoints, database: str
) -> None:
    sender = new_phone()
    ids = [new_wamid(), new_wamid()]
    payload = notification(
        change([text(ids[0], sender, "uno", now_ts())]),
        change([text(ids[1], sender, "dos", now_ts())]),
    )
    marker = new_wamid()
    async with (
        tcp_proxy(endpoints.rabbit_url) as proxy,
        fake_graph() as graph,
        inbound_tap(endpoints.rabbit_url) as tap,
    ):
        settings = channel_settings(
            endpoints,
            database,
            graph.url,
            rabbit_url=proxy.url_for(endpoints.rabbit_url),
            relay_sweep_seconds=0.2,
            relay_grace_seconds=0,
        )
        async with channel_app(settings) as (client, _):
            await proxy.cut()
            away = await post_webhook(client, payload)
            pending = await stored_ids(endpoints, database, "whatsapp_inbox")
            proxy.restore()
            for message_id in ids:  # the sweep publishes them once the broker is back
                await tap.wait_for(message_id)
            retried = await post_webhook(client, payload)  # Meta's retry
            await post_webhook(client, notification(change([text(marker, sender, "x", now_ts())])))
            await tap.wait_for(marker)
    assert away.status_code == 503
    assert away.json()["code"] == "unavailable"
    assert sorted(pending) == sorted(ids)
    assert retried.status_code == 200
    assert retried.json()["data"]["new"] == 0
    assert [tap.count(message_id) for message_id in ids] == [1, 1]


async def test_media_that_came_in_can_be_downloaded_by_agents_and_services(
    endpoints: Endpoints, database: str
) -> None:
    sender = new_phone()
    async with fake_graph() as graph:
        settings = channel_settings(endpoints, database, graph.url)
        graph.media["m-photo"] = (b"\xff\xd8\xff\xe0 jpeg bytes", "image/jpeg")
        graph.media["m-pdf"] = (b"%PDF-1.7 invoice", "application/pdf")
        async with channel_app(settings) as (client, _):
            ts = now_ts()
            await post_webhook(
                client,
                notification(
                    change(
                        [
                            image(new_wamid(), sender, "m-photo", ts),
                            document(new_wamid(), sender, "m-pdf", "factura 7.pdf", ts),
                            image(new_wamid(), sender, "m-gone", ts),
                        ]
                    )
                ),
            )
            agent = await agent_headers(endpoints, settings)
            photo = await client.get("/api/v2/whatsapp/media/m-photo", headers=agent)
            pdf = await client.get("/api/v2/whatsapp/media/m-pdf", headers={"X-API-Key": API_KEY})
            gone = await client.get("/api/v2/whatsapp/media/m-gone", headers=agent)
            never = await client.get("/api/v2/whatsapp/media/m-never-seen", headers=agent)
            anonymous = await client.get("/api/v2/whatsapp/media/m-photo")
            bad_key = await client.get("/api/v2/whatsapp/media/m-photo", headers={"X-API-Key": "x"})
    assert photo.status_code == 200
    assert photo.content == b"\xff\xd8\xff\xe0 jpeg bytes"
    assert photo.headers["content-type"] == "image/jpeg"
    assert pdf.status_code == 200
    assert pdf.content == b"%PDF-1.7 invoice"
    assert pdf.headers["content-disposition"] == "attachment; filename*=UTF-8''factura%207.pdf"
    assert (gone.status_code, gone.json()["error"]) == (404, "WhatsApp no longer has this media")
    assert never.status_code == 404
    assert (anonymous.status_code, bad_key.status_code) == (401, 401)
    assert graph.unauthorized == 0


async def test_with_mongodb_away_the_webhook_answers_503_and_the_retry_publishes_once(
    endpoints: Endpoints, database: str
) -> None:
    sender, message_id = new_phone(), new_wamid()
    payload = notification(change([text(message_id, sender, "hola", now_ts())]))
    async with (
        tcp_proxy(endpoints.mongo_url) as proxy,
        fake_graph() as graph,
        inbound_tap(endpoints.rabbit_url) as tap,
    ):
        settings = channel_settings(endpoints, database, graph.url).model_copy(
            update={
                "mongodb_url": proxy.url_for(endpoints.mongo_url) + "&serverSelectionTimeoutMS=1500"
            }
        )
        async with channel_app(settings) as (client, _):
            await proxy.cut()
            away = await post_webhook(client, payload)
            proxy.restore()
            retried = await post_webhook(client, payload)  # Meta's retry
            await tap.wait_for(message_id)
            again = await post_webhook(client, payload)
            marker = new_wamid()
            await post_webhook(client, notification(change([text(marker, sender, "x", now_ts())])))
            await tap.wait_for(marker)
    assert (away.status_code, away.json()["code"]) == (503, "unavailable")
    assert retried.status_code == 200
    assert retried.json()["data"]["new"] == 1
    assert again.json()["data"]["new"] == 0
    assert tap.count(message_id) == 1
