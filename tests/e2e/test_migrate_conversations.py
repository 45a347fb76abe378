"""`tickets migrate conversations` as an operator runs it, against a running ticket service:
1,000 conversations of which 10 are malformed make 990 tickets and 10 reports; a second
run creates nothing; a dry run writes nothing."""

import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from bson import ObjectId

from infra.mongo import connect
from tests.support.cli import clean_env, run_tickets
from tests.support.system import Endpoints, drop_database, running, settings_for

pytestmark = pytest.mark.integration

GOOD = 990
MALFORMED: list[dict[str, Any]] = [
    {"customer": {"phone": "600 000 000"}},  # not E.164
    {"customer": {"phone": "+3460000000x"}},
    {"customer": {}},  # no phone anywhere
    {"customerId": ObjectId()},  # a customer record that does not exist
    {"customer": {"phone": "+34611111111"}, "priority": "critical"},
    {"customer": {"phone": "+34611111112"}, "category": "gossip"},
    {"customer": {"phone": "+34611111113"}, "lastMessage": {"content": 42}},
    {"customer": {"phone": 34611111114}},  # a number, not text
    {"customer": "+34611111115"},  # not a document, no other phone
    {"customerId": "someone", "customer": None},
]


def source_url(endpoints: Endpoints, database: str) -> str:
    parts = urlsplit(endpoints.mongo_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def conversations() -> list[dict[str, Any]]:
    good = []
    for number in range(GOOD):
        conversation: dict[str, Any] = {
            "_id": ObjectId(),
            "status": "resolved" if number % 2 else "assigned",
            "category": ["technical", "complaint", "billing"][number % 3],
            "priority": ["low", "medium", "high", "urgent"][number % 4],
            "lastMessage": {"content": f"My order number {number} never arrived, please help."},
        }
        if number % 2:
            conversation["customer"] = {"phone": f"+3462{number:07d}", "name": f"Client {number}"}
        else:
            conversation["customerId"] = f"crm-customer-{number}"
        good.append(conversation)
    bad = [{"_id": ObjectId(), "malformed": True, **fields} for fields in MALFORMED]
    return good[:500] + bad + good[500:]


async def test_migrating_a_thousand_conversations(
    endpoints: Endpoints, database: str, tmp_path: Path
) -> None:
    crm = f"crm_{uuid.uuid4().hex[:10]}"
    mongo = connect(endpoints.mongo_url)
    try:
        records = conversations()
        await mongo[crm]["conversations"].insert_many(records)
        await mongo[crm]["customers"].insert_many(
            [
                {"_id": f"crm-customer-{n}", "phone": f"+3463{n:07d}", "name": f"Cliente {n}"}
                for n in range(0, GOOD, 2)
            ]
        )
        env = clean_env(
            RABBITMQ_URL=endpoints.rabbit_url,
            MONGODB_URL=endpoints.mongo_url,
            TICKETS_MONGODB_DATABASE=database,
            TICKETS_DATA_DIR=str(tmp_path),
        )
        command = [
            "migrate",
            "conversations",
            "--from",
            source_url(endpoints, crm),
            "--collection",
            "conversations",
            "--filter",
            "{}",
        ]
        async with running(settings_for(endpoints, database)):
            dry = await run_tickets(*command, "--dry-run", env=env)
            tickets_after_dry = await mongo[database]["tickets"].count_documents({})
            linked_after_dry = await mongo[crm]["conversations"].count_documents(
                {"linkedTicketId": {"$ne": None}}
            )
            first = await run_tickets(*command, env=env)
            tickets = await mongo[database]["tickets"].find({}, {"conversationId": 1}).to_list()
            linked = (
                await mongo[crm]["conversations"]
                .find({"linkedTicketId": {"$ne": None}}, {"linkedTicketId": 1})
                .to_list()
            )
            again = await run_tickets(*command, env=env)
            tickets_after_again = await mongo[database]["tickets"].count_documents({})
    finally:
        await mongo.drop_database(crm)
        await mongo.close()
        await drop_database(endpoints, crm)

    bad_ids = {str(r["_id"]) for r in records if r.get("malformed")}
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip() == (
        "conversations examined: 1000, would get a ticket: 990, skipped as bad records: 10, "
        "failed (run again): 0; dry run, nothing was written"
    )
    assert (tickets_after_dry, linked_after_dry) == (0, 0)

    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == (
        "conversations examined: 1000, linked to tickets: 990, skipped as bad records: 10, "
        "failed (run again): 0"
    )
    reported = re.findall(r"^tickets: skipped conversation (\w+): .+$", first.stderr, re.M)
    assert set(reported) == bad_ids
    assert len(reported) == 10
    assert re.search(r"^\[#{30}\] 1000/1000 ", first.stderr, re.M)
    assert len(tickets) == GOOD
    assert {t["conversationId"] for t in tickets} == {
        str(r["_id"]) for r in records if str(r["_id"]) not in bad_ids
    }
    assert len({c["linkedTicketId"] for c in linked}) == GOOD

    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().startswith(
        "conversations examined: 10, linked to tickets: 0, skipped as bad records: 10"
    )
    assert tickets_after_again == GOOD
