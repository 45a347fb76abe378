"""Finding: no cap on Socket.IO connections per token, nor on unauthenticated handshakes
(2,000 in 2 s), and failed socket authentication was never throttled."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts.enums import AgentRole
from infra.auth import issue_token
from infra.clock import MovableClock
from infra.settings import NotifierSettings
from services.notifier.main import Notifier
from services.ticket_service.main import TicketService
from tests.support.api import api_settings, whole_api
from tests.support.factories import make_agent
from tests.support.notifier_system import Refused, connect, hang_up, serving
from tests.support.system import Endpoints, settings_for

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HANDSHAKE = "/socket.io/?EIO=4&transport=polling"
SECRET = "socket-caps-test-secret-0123456789abcdef"


async def test_2000_handshakes_from_one_address_are_refused_past_the_cap(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(START)
    settings = api_settings(endpoints, database)  # the default: 120 a minute per address
    async with whole_api(settings, clock) as whole:
        answers = [await whole.http.get(HANDSHAKE) for _ in range(2000)]
        async with whole.at("10.0.0.7") as elsewhere:
            other_address = await elsewhere.get(HANDSHAKE)
        clock.advance(timedelta(seconds=61))
        a_minute_later = await whole.http.get(HANDSHAKE)
    opened = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    assert len(opened) == 120
    assert all(a.text.startswith("0{") and '"sid"' in a.text for a in opened)  # sessions
    assert {a.status_code for a in refused} == {429}
    assert refused[0].json()["code"] == "rate_limited"
    assert int(refused[0].headers["Retry-After"]) == 61
    assert other_address.status_code == 200
    assert a_minute_later.status_code == 200


async def test_unauthenticated_sessions_are_capped_in_total(
    endpoints: Endpoints, database: str
) -> None:
    knobs = NotifierSettings(max_pending_handshakes=30, webhook_poll_seconds=3600)
    settings = api_settings(endpoints, database, notifier=knobs)
    async with whole_api(settings) as whole:
        answers = []
        for n in range(40):
            async with whole.at(f"10.0.1.{n}") as spread:
                answers.append(await spread.get(HANDSHAKE))
    assert [a.status_code for a in answers] == [200] * 30 + [503] * 10
    assert answers[-1].json()["code"] == "unavailable"


async def test_an_agent_holds_at_most_the_configured_connections(
    endpoints: Endpoints, database: str
) -> None:
    knobs = NotifierSettings(max_connections_per_agent=3, webhook_poll_seconds=3600)
    settings = settings_for(endpoints, database, jwt_secret=SECRET, notifier=knobs)
    async with serving(settings, [TicketService(), Notifier()]) as served:
        ana, bob = await make_agent("Ana"), await make_agent("Bob")
        ana_token = issue_token(settings, ana, AgentRole.AGENT, datetime.now(UTC))
        held = [await connect(served.url, ana_token) for _ in range(3)]
        with pytest.raises(Refused) as fourth:
            await connect(served.url, ana_token)
        bob_inbox = await connect(
            served.url, issue_token(settings, bob, AgentRole.AGENT, datetime.now(UTC))
        )
        await hang_up(held.pop())
        again = await connect(served.url, ana_token)
        for inbox in [*held, bob_inbox, again]:
            await hang_up(inbox)
    assert "Too many connections for this agent (at most 3)" in str(fourth.value.args[0])


async def test_failed_socket_authentication_is_throttled_like_the_rest_api(
    endpoints: Endpoints, database: str
) -> None:
    settings = settings_for(
        endpoints,
        database,
        jwt_secret=SECRET,
        auth_failures_per_credential=2,
        notifier=NotifierSettings(webhook_poll_seconds=3600),
    )
    async with serving(settings, [TicketService(), Notifier()]) as served:
        refusals = []
        for _ in range(3):
            with pytest.raises(Refused) as refused:
                await connect(served.url, "not.a.jwt")
            refusals.append(str(refused.value.args[0]))
        ana = await make_agent("Ana")
        good = await connect(
            served.url, issue_token(settings, ana, AgentRole.AGENT, datetime.now(UTC))
        )
        await hang_up(good)
    assert "Unauthorized" in refusals[0]
    assert "Unauthorized" in refusals[1]
    assert "Too many failed authentication attempts" in refusals[2]
