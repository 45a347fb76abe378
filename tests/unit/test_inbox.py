"""What the inbox accepts as a message body, and how it counts and paces redeliveries."""

import json

import pytest

from infra.inbox import (
    RETRY_PAUSE_MAX_SECONDS,
    PoisonMessage,
    delivery_count,
    parse_object,
    retry_pause,
)

LIMIT = 1024
DEEP = b"[" * 200_000 + b"]" * 200_000


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"", "not JSON"),
        (DEEP, "over the limit"),
        (b"null", "JSON null, not an object"),
        (b"[1, 2]", "JSON list, not an object"),
        (b'"text"', "JSON str, not an object"),
        (b"42", "JSON int, not an object"),
        (b'{"a": "' + b"x" * LIMIT + b'"}', "over the limit"),
    ],
)
def test_anything_but_a_json_object_within_the_limit_is_poison(body: bytes, reason: str) -> None:
    with pytest.raises(PoisonMessage, match=reason):
        parse_object(body, LIMIT)


@pytest.mark.parametrize("body", [DEEP, b'{"a": ' * 200_000 + b"1" + b"}" * 200_000])
def test_deep_nesting_within_the_size_limit_is_poison_not_a_crash(body: bytes) -> None:
    with pytest.raises(PoisonMessage, match="nested too deeply"):
        parse_object(body, len(body))


def test_a_json_object_is_read() -> None:
    body = json.dumps({"title": "café ☕", "n": [1, {"deep": True}]}).encode()
    assert parse_object(body, LIMIT) == {"title": "café ☕", "n": [1, {"deep": True}]}


class _Message:
    def __init__(self, headers: dict[str, object] | None) -> None:
        self.headers = headers


@pytest.mark.parametrize(
    ("headers", "count"),
    [(None, 0), ({}, 0), ({"x-delivery-count": 3}, 3), ({"x-delivery-count": "3"}, 0)],
)
def test_delivery_count_comes_from_the_quorum_header(
    headers: dict[str, object] | None, count: int
) -> None:
    assert delivery_count(_Message(headers)) == count  # type: ignore[arg-type]


def test_the_pause_before_a_requeue_doubles_up_to_a_ceiling() -> None:
    pauses = [retry_pause(n) for n in range(12)]
    assert pauses[:4] == [0.5, 1.0, 2.0, 4.0]
    assert pauses == sorted(pauses)
    assert pauses[-1] == RETRY_PAUSE_MAX_SECONDS
    assert retry_pause(10_000) == RETRY_PAUSE_MAX_SECONDS
