"""The WhatsApp channel's pure rules: Meta's signature and Meta's payloads."""

from datetime import UTC, datetime

import pytest

from services.whatsapp_channel.domain.signature import sign, valid_signature
from services.whatsapp_channel.domain.webhook import parse_webhook
from tests.support.fake_meta import (
    PHONE_NUMBER_ID,
    change,
    contacts,
    document,
    image,
    location,
    notification,
    status,
    text,
)

SECRET = "app-secret"
BODY = b'{"object":"whatsapp_business_account","entry":[]}'
T0 = 1_780_000_000
CUSTOMER = "+34600000001"


def test_meta_signature_is_accepted() -> None:
    assert valid_signature(SECRET, sign(SECRET, BODY), BODY)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha256=deadbeef",
        sign("another-secret", BODY),
        sign(SECRET, BODY + b" "),
        sign(SECRET, BODY).removeprefix("sha256="),
        sign(SECRET, BODY).upper(),
        "sha256=ñ" + sign(SECRET, BODY)[8:],
    ],
)
def test_a_missing_or_wrong_signature_is_refused(header: str | None) -> None:
    assert not valid_signature(SECRET, header, BODY)


def test_every_message_of_every_entry_and_change_is_read_with_its_media() -> None:
    payload = notification(
        change(
            [text("wamid.1", CUSTOMER, "Hola", T0), image("wamid.2", CUSTOMER, "m-1", T0, "roto")],
            names={CUSTOMER: "Lucía"},
        ),
        change([location("wamid.3", "+34600000002", T0)]),
        change([document("wamid.4", CUSTOMER, "m-2", "factura.pdf", T0)]),
        change([contacts("wamid.5", CUSTOMER, T0)]),
        entries=2,
    )
    parsed = parse_webhook(payload, PHONE_NUMBER_ID)
    assert parsed.skipped == []
    by_id = {m.message_id: m for m in parsed.messages}
    assert list(by_id) == ["wamid.1", "wamid.2", "wamid.4", "wamid.3", "wamid.5"]
    assert by_id["wamid.1"].text == "Hola"
    assert by_id["wamid.1"].name == "Lucía"
    assert by_id["wamid.1"].sender == CUSTOMER
    assert by_id["wamid.1"].timestamp == datetime.fromtimestamp(T0, UTC)
    photo = by_id["wamid.2"].attachments[0]
    assert (photo.type, photo.media_id, photo.mime_type, photo.caption) == (
        "image",
        "m-1",
        "image/jpeg",
        "roto",
    )
    assert by_id["wamid.2"].text == "roto"
    place = by_id["wamid.3"].attachments[0].location
    assert place is not None
    assert (place.latitude, place.longitude, place.name) == (40.4168, -3.7038, "Puerta del Sol")
    assert by_id["wamid.3"].text == "[location: Puerta del Sol (40.4168, -3.7038)]"
    pdf = by_id["wamid.4"].attachments[0]
    assert (pdf.type, pdf.filename, pdf.mime_type) == ("document", "factura.pdf", "application/pdf")
    assert by_id["wamid.4"].text == "[document: factura.pdf]"
    card = by_id["wamid.5"].attachments[0].contacts
    assert card is not None
    assert (card[0].name, card[0].phones) == ("Ana Pérez", ["+34 600 000 009"])


def test_unreadable_and_foreign_items_are_skipped_and_the_rest_kept() -> None:
    payload = notification(
        change(
            [
                {
                    "from": "34600000001",
                    "timestamp": str(T0),
                    "type": "text",
                    "text": {"body": "x"},
                },
                {"id": "wamid.bad-from", "from": "abc", "timestamp": str(T0), "type": "text"},
                {"id": "wamid.no-time", "from": "34600000001", "type": "text"},
                text("wamid.ok", CUSTOMER, "bien", T0),
            ]
        ),
        change([text("wamid.other", CUSTOMER, "otro", T0)], phone_number_id="999"),
        {"field": "account_update", "value": {}},
    )
    parsed = parse_webhook(payload, PHONE_NUMBER_ID)
    assert [m.message_id for m in parsed.messages] == ["wamid.ok"]
    assert len(parsed.skipped) == 5


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"type": "button", "button": {"text": "Sí", "payload": "yes"}}, "Sí"),
        (
            {"type": "interactive", "interactive": {"button_reply": {"title": "Opción 1"}}},
            "Opción 1",
        ),
        ({"type": "reaction", "reaction": {"emoji": "👍", "message_id": "w"}}, "[reaction 👍]"),
        ({"type": "sticker", "sticker": {"id": "s-1", "mime_type": "image/webp"}}, "[sticker]"),
        ({"type": "audio", "audio": {"id": "a-1", "mime_type": "audio/ogg"}}, "[audio]"),
        ({"type": "unsupported"}, "[unsupported message]"),
    ],
)
def test_other_message_types_still_reach_the_pipeline(
    raw: dict[str, object], expected: str
) -> None:
    message = {"id": "wamid.x", "from": "34600000001", "timestamp": str(T0), **raw}
    parsed = parse_webhook(notification(change([message])), PHONE_NUMBER_ID)
    assert [m.text for m in parsed.messages] == [expected]


def test_delivery_reports_keep_the_error_code_and_our_callback_data() -> None:
    payload = notification(
        change(
            statuses=[
                status("wamid.a", CUSTOMER, "delivered", T0),
                status("wamid.b", CUSTOMER, "failed", T0, callback_data="msg-1", error_code=131026),
                {"id": "wamid.c", "status": "deleted", "timestamp": str(T0)},
            ]
        )
    )
    parsed = parse_webhook(payload, PHONE_NUMBER_ID)
    assert [(s.whatsapp_message_id, s.status) for s in parsed.statuses] == [
        ("wamid.a", "delivered"),
        ("wamid.b", "failed"),
    ]
    failed = parsed.statuses[1]
    assert failed.callback_data == "msg-1"
    assert failed.errors[0].code == 131026
    assert failed.errors[0].detail == "The recipient cannot receive this message"
    assert len(parsed.skipped) == 1


@pytest.mark.parametrize("payload", [None, [], "x", {"object": "page", "entry": []}])
def test_a_payload_that_is_not_whatsapp_yields_nothing(payload: object) -> None:
    parsed = parse_webhook(payload, PHONE_NUMBER_ID)
    assert (parsed.messages, parsed.statuses) == ([], [])
    assert parsed.skipped
