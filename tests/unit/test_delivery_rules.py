"""A reply's delivery only moves forward, whatever order the reports come in."""

import pytest

from contracts.conversation import DeliveryStatus as S
from services.ticket_service.domain.delivery import replaceable_by


@pytest.mark.parametrize(
    ("report", "replaces"),
    [
        (S.UNKNOWN, {S.PENDING, S.QUEUED}),
        (S.SENT, {S.PENDING, S.QUEUED, S.UNKNOWN}),
        (S.DELIVERED, {S.PENDING, S.QUEUED, S.UNKNOWN, S.SENT}),
        (S.READ, {S.PENDING, S.QUEUED, S.UNKNOWN, S.SENT, S.DELIVERED}),
        (S.FAILED, {S.PENDING, S.QUEUED, S.UNKNOWN, S.SENT, S.DELIVERED, S.READ}),
    ],
)
def test_a_report_replaces_only_what_came_before_it(report: S, replaces: set[S]) -> None:
    assert set(replaceable_by(report)) == {str(s) for s in replaces}


def test_an_inbound_message_is_never_touched() -> None:
    reports = (S.UNKNOWN, S.SENT, S.DELIVERED, S.READ, S.FAILED)
    assert all(S.RECEIVED not in replaceable_by(status) for status in reports)
