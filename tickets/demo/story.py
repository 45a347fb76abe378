"""The story `tickets demo` tells, step by step, against a running `tickets up --demo`: a
customer writes on WhatsApp, the assistant opens a ticket, an agent sees it live, takes
it, answers, waits for the customer, resolves it, the clock jumps to the auto-close, and
the statistics show the result. Every step waits for its positive marker (a push, a
message on the customer's phone, a status) within the step bound."""

import math
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import httpx

from contracts.enums import AgentRole
from infra.auth import issue_token
from infra.settings import Settings
from tickets.demo.clock_api import PATH as CLOCK
from tickets.demo.clock_api import ROUTE as CLOCK_ROUTE
from tickets.demo.credentials import AGENT_NAME, Credentials, make_credentials, revoke
from tickets.demo.desk import AgentScreen, Desk
from tickets.demo.phone import Phone, Received
from tickets.demo.progress import Progress, StepFailed, eventually
from tickets.demo.report import statistics_lines

STEPS = 15
REQUIRED = {"ticket_service", "assistant_gateway", "sla_monitor", "notifier"}
START_IT = "start it with `tickets up --demo` (or ./scripts/run.sh --demo)"
CUSTOMER_NAME = "Lucía (demo)"
FIRST = "Hola, mi pedido #12345 no ha llegado"
REPLY = "Hola Lucía, soy Ana. ¿Me das el número de seguimiento?"
ANSWER = "Es el 7781-ES"
NOTES = "Courier delivered it on Monday"


def local_now() -> datetime:
    return datetime.now(UTC)


class Demo:
    def __init__(self, settings: Settings, url: str, bound: float, out: TextIO) -> None:
        self.settings = settings
        self.url = url.rstrip("/")
        self.progress = Progress(STEPS, out, bound)
        self.phone = Phone(
            settings.rabbitmq_url, f"+3469{secrets.randbelow(10**7):07d}", CUSTOMER_NAME
        )
        self.screen = AgentScreen()
        self.offset = timedelta(0)
        """The system's clock minus ours (it moves forward in demo mode)."""
        self.shown: set[int] = set()
        self.ticket_id = ""
        self.credentials: Credentials | None = None
        self.desk: Desk | None = None

    def server_now(self) -> datetime:
        return local_now() + self.offset

    async def run(self) -> None:
        step, say = self.progress.step, self.progress.line
        say(f"tickets demo against {self.url}: customer {self.phone.number}, agent {AGENT_NAME}")
        try:
            await step(f"the system answers at {self.url}", self.system_answers)
            credentials = await step("the demo's API key and agent", self.sign_up)
            self.desk = Desk(self.url, credentials.api_key)
            started = await step("the system runs in demo mode", self.demo_mode)
            await step("Ana connects to her live pushes (Socket.IO)", self.agent_connects)
            await self.customer_story()
            await self.desk_story(started)
        finally:
            await self.close()

    async def customer_story(self) -> None:
        step = self.progress.step
        first = await step("the customer writes on WhatsApp", self.customer_writes)
        await step("the assistant answers on WhatsApp", lambda: self.assistant_answers(first))
        self.ticket_id = await step("a ticket is opened for the customer", self.ticket_opened)
        await step("Ana sees it live (ticket_created)", self.agent_sees_it)

    async def desk_story(self, started: datetime) -> None:
        step = self.progress.step
        await step("Ana takes it", self.agent_takes_it)
        await step("Ana replies; it reaches the customer's WhatsApp", self.agent_replies)
        await step("Ana waits for the customer (pending_customer)", self.agent_waits)
        await step("the customer answers; the ticket is back in progress", self.customer_answers)
        due = await step("Ana resolves it", self.agent_resolves)
        await step("a day later: the SLA monitor closes it by itself", lambda: self.auto_close(due))
        self.show_the_rest()
        report = await step("statistics of this run", lambda: self.statistics(started))
        for line in statistics_lines(report):
            self.progress.detail(line)
        self.progress.line(f"demo finished: {self.ticket_id} went from WhatsApp to closed")

    # ---- the steps --------------------------------------------------------------------

    async def system_answers(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as http:
            try:
                health, ready = await http.get("/healthz"), await http.get("/readyz")
            except httpx.HTTPError as error:
                raise StepFailed(
                    f"nothing answers there ({type(error).__name__}); {START_IT}"
                ) from None
        running = set(_body(health).get("services", [])) if health.is_success else set()
        if missing := REQUIRED - running:
            raise StepFailed(
                f"these services do not run there: {', '.join(sorted(missing))}; {START_IT}"
            )
        if not ready.is_success:
            raise StepFailed(f"not ready: {_body(ready).get('checks')}")
        self.progress.detail(f"running: {', '.join(sorted(running))}")

    async def sign_up(self) -> Credentials:
        self.credentials = await make_credentials(self.settings, local_now())
        return self.credentials

    async def demo_mode(self) -> datetime:
        answer = await self.need_desk().raw("GET", CLOCK)
        if answer.status_code == 404:
            raise StepFailed(f"the system at {self.url} is not in demo mode; {START_IT}")
        if answer.status_code == 401:
            raise StepFailed(
                "the system does not know the demo's API key: run the demo with the same "
                "MONGODB_URL (or TICKETS_DATA_DIR) as the system"
            )
        if not answer.is_success:
            raise StepFailed(f"{CLOCK} answered {answer.status_code}")
        self.set_clock(answer.json()["data"])
        return self.server_now() - timedelta(seconds=1)

    async def agent_connects(self) -> None:
        token = self.token()
        self.need_desk().sign_in(token)
        await self.screen.connect(self.url, token)

    async def customer_writes(self) -> str:
        """Her phone listens first, so no message to her is missed."""
        await self.phone.connect()
        return await self.write(FIRST)

    async def assistant_answers(self, message_id: str) -> None:
        reply = await self.phone.receives(lambda m: m.get("replyTo") == message_id)
        self.show(reply)

    async def ticket_opened(self) -> str:
        ticket = await eventually(self.customers_ticket)
        self.progress.detail(f"{ticket['ticketId']}: {ticket['title']!r}, {ticket['status']}")
        return str(ticket["ticketId"])

    async def agent_sees_it(self) -> None:
        push = await self.screen.sees("ticket_created", self.ticket_id)
        self.progress.detail(
            f"push ticket_created: {push['ticketId']}, priority {push.get('priority')}, "
            f"category {push.get('category')}"
        )

    async def agent_takes_it(self) -> None:
        me = self.need_credentials().agent_id
        path = f"/tickets/{self.ticket_id}/assign"
        ticket = await self.need_desk().as_agent("PUT", path, json={"agentId": me})
        await self.screen.sees("ticket_assigned", self.ticket_id)
        self.progress.detail(f"assigned to {AGENT_NAME}: {ticket['status']} (push ticket_assigned)")

    async def agent_replies(self) -> None:
        path = f"/tickets/{self.ticket_id}/messages"
        headers = {"Idempotency-Key": f"demo-{self.ticket_id}-1"}
        sent = await self.need_desk().as_agent("POST", path, json={"text": REPLY}, headers=headers)
        received = await self.phone.receives(lambda m: m.get("messageId") == sent["id"])
        self.show(received)

    async def agent_waits(self) -> None:
        path = f"/tickets/{self.ticket_id}/status"
        body = {"status": "pending_customer"}
        ticket = await self.need_desk().as_agent("PUT", path, json=body)
        met = ticket["sla"]["firstResponseMet"]
        self.progress.detail(f"{ticket['status']}; first response within the SLA: {met}")

    async def customer_answers(self) -> None:
        message_id = await self.write(ANSWER)
        await eventually(lambda: self.ticket_in("in_progress"))
        self.show(await self.phone.receives(lambda m: m.get("replyTo") == message_id))

    async def agent_resolves(self) -> datetime:
        path = f"/tickets/{self.ticket_id}/status"
        body = {"status": "resolved", "resolutionNotes": NOTES}
        ticket = await self.need_desk().as_agent("PUT", path, json=body)
        due = ticket["sla"].get("autoCloseDueAt")
        if due is None:
            raise StepFailed("the resolved ticket has no auto-close time (sla.autoCloseDueAt)")
        self.progress.detail(f"{ticket['status']}; closes by itself at {due}")
        return datetime.fromisoformat(due)

    async def auto_close(self, due: datetime) -> None:
        ahead = max(1, math.ceil((due - self.server_now()).total_seconds()) + 1)
        moved = await self.need_desk().as_service(
            "POST", CLOCK_ROUTE, json={"advanceSeconds": ahead}
        )
        self.set_clock(moved)
        self.progress.detail(f"the system's clock moved forward {timedelta(seconds=ahead)}")
        ticket = await eventually(lambda: self.ticket_in("closed"))
        last = ticket["statusHistory"][-1]
        self.progress.detail(
            f"closed by {last['changedByType']} (automated: {last['automated']}) at "
            f"{last['timestamp']}"
        )

    async def statistics(self, started: datetime) -> dict[str, Any]:
        """The report once it counts the closed ticket: the statistics are kept from the
        events, one hop behind the ticket itself."""
        query = {"createdFrom": started.isoformat()}

        async def counted() -> dict[str, Any] | None:
            report: dict[str, Any] = await self.need_desk().as_service(
                "GET", "/tickets/statistics", params=query
            )
            return report if report.get("byStatus", {}).get("closed") else None

        return await eventually(counted)

    # ---- helpers ----------------------------------------------------------------------

    async def write(self, text: str) -> str:
        message_id = await self.phone.write(text, self.server_now())
        self.progress.detail(f'{self.phone.number} writes: "{text}"')
        return message_id

    async def customers_ticket(self) -> dict[str, Any] | None:
        answer = await self.need_desk().raw(
            "GET", "/api/v2/customers", params={"phone": self.phone.number}
        )
        if answer.status_code != 200:
            return None
        tickets = answer.json()["data"]["tickets"]
        return tickets[0] if tickets else None

    async def ticket_in(self, status: str) -> dict[str, Any] | None:
        ticket = await self.need_desk().as_service("GET", f"/tickets/{self.ticket_id}")
        return ticket if ticket["status"] == status else None

    def token(self) -> str:
        agent_id = self.need_credentials().agent_id
        return issue_token(self.settings, agent_id, AgentRole.AGENT, self.server_now())

    def set_clock(self, clock: dict[str, Any]) -> None:
        self.offset = datetime.fromisoformat(clock["now"]) - local_now()

    def show(self, message: Received) -> None:
        self.shown.add(id(message))
        self.progress.detail(f'{self.phone.number} receives: "{message["text"]}"')

    def show_the_rest(self) -> None:
        for message in self.phone.received:
            if id(message) not in self.shown:
                self.show(message)

    def need_desk(self) -> Desk:
        if self.desk is None:
            raise RuntimeError("no desk before the credentials")
        return self.desk

    def need_credentials(self) -> Credentials:
        if self.credentials is None:
            raise RuntimeError("no credentials yet")
        return self.credentials

    async def close(self) -> None:
        await self.screen.close()
        await self.phone.close()
        if self.desk is not None:
            await self.desk.close()
        if self.credentials is not None:
            await revoke(self.settings, self.credentials, local_now())


def _body(answer: httpx.Response) -> dict[str, Any]:
    """The JSON object answered, or {} (something else listens there)."""
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
