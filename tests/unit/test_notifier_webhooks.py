"""Webhook rules: signatures, event filters, retry schedule."""

from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.domain.signing import BadSignature, digest, sign, verify
from services.notifier.domain.webhooks import (
    DeliveryStatus,
    Outcome,
    RetryPolicy,
    after_attempt,
    valid_filter,
    wants,
)
from services.notifier.targets import private_address

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
POLICY = RetryPolicy(3, timedelta(seconds=30), timedelta(minutes=10))
BODY = b'{"eventId":"e1","type":"ticket.created"}'


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    # echo -n '1700000000.{"eventId":"e1","type":"ticket.created"}' \
    #   | openssl dgst -sha256 -hmac s3cret
    expected = "6775345eb18766b478b46b0db4eb6c959643cf636a6ac07f74f85344f7a8e19b"
    assert digest("s3cret", 1_700_000_000, BODY) == expected
    header = sign("s3cret", 1_700_000_000, BODY)
    assert header == f"t=1700000000,v1={expected}"
    assert verify("s3cret", header, BODY, 1_700_000_100) == 1_700_000_000


@pytest.mark.parametrize(
    "header",
    [None, "", "t=abc,v1=00", "v1=00", "t=1700000000", "t=1700000000,v1=deadbeef"],
)
def test_malformed_or_wrong_signatures_are_refused(header: str | None) -> None:
    with pytest.raises(BadSignature):
        verify("s3cret", header, BODY, 1_700_000_000)


def test_a_stale_signature_is_refused() -> None:
    header = sign("s3cret", 1_700_000_000, BODY)
    with pytest.raises(BadSignature):
        verify("s3cret", header, BODY, 1_700_000_000 + 301)


@pytest.mark.parametrize(
    ("filters", "event_type", "wanted"),
    [
        (["*"], "sla.warning", True),
        (["ticket.*"], "ticket.assigned", True),
        (["ticket.*"], "sla.breached", False),
        (["ticket.created", "sla.breached"], "sla.breached", True),
        (["ticket.created"], "ticket.created.extra", False),
    ],
)
def test_filters(filters: list[str], event_type: str, wanted: bool) -> None:
    assert wants(filters, event_type) is wanted


@pytest.mark.parametrize(
    ("pattern", "valid"),
    [
        ("*", True),
        ("ticket.*", True),
        ("sla.*", True),
        ("ticket.created", True),
        ("ticket", False),
        ("foo.*", False),
        ("ticket.exploded", False),
        ("", False),
    ],
)
def test_valid_filters(pattern: str, valid: bool) -> None:
    assert valid_filter(pattern) is valid


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(20, timedelta(seconds=30), timedelta(minutes=10))
    delays = [policy.delay_after(n).total_seconds() for n in range(1, 8)]
    assert delays == [30, 60, 120, 240, 480, 600, 600]
    assert policy.delay_after(10_000) == timedelta(minutes=10)


def test_outcomes_of_an_attempt() -> None:
    assert after_attempt(POLICY, 1, True, NOW) == Outcome(DeliveryStatus.DELIVERED, None)
    assert after_attempt(POLICY, 1, False, NOW) == Outcome(
        DeliveryStatus.RETRYING, NOW + timedelta(seconds=30)
    )
    assert after_attempt(POLICY, 2, False, NOW) == Outcome(
        DeliveryStatus.RETRYING, NOW + timedelta(seconds=60)
    )
    assert after_attempt(POLICY, 3, False, NOW) == Outcome(DeliveryStatus.DEAD, None)


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("::1", True),
        ("fe80::1%eth0", True),
        ("fd00::1", True),
        ("::ffff:127.0.0.1", True),
        ("8.8.8.8", False),
        ("2001:4860:4860::8888", False),
    ],
)
def test_private_addresses(address: str, private: bool) -> None:
    assert private_address(address) is private


@pytest.mark.parametrize("forged", ["t=100,v1=é" + "0" * 63, "t=100,v1=\udcff"])
def test_a_non_ascii_signature_is_a_bad_signature_not_a_crash(forged: str) -> None:
    with pytest.raises(BadSignature, match="does not match"):
        verify("secret", forged, b"{}", now=100)
