"""Runs tool calls for one verified customer against the ticket service.

`execute` never raises: a broken call, a refusal, a timeout or a bug all become
`{success: false, error, userMessage}`. The actor of every command is the verified
sender; nothing in the arguments can name another customer, so another customer's ticket
is simply `not_found` (the ticket service enforces it, the prompt is not trusted to).
"""

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from contracts.actors import CustomerActor
from contracts.client import TicketRefused, TicketsClient, TicketServiceUnavailable
from contracts.commands import (
    AddNote,
    CreateTicket,
    CustomerByPhone,
    EscalatePriority,
    GetTicket,
    ListTickets,
    RateTicket,
)
from contracts.enums import Category, Language, Priority, Source, TicketStatus
from contracts.tickets import Ticket
from infra import logging as log_context
from infra.clock import Clock
from services.assistant_gateway.budget import ConversationBudget
from services.assistant_gateway.directory import Directory
from services.assistant_gateway.documents import ToolJournal
from services.assistant_gateway.domain import tools
from services.assistant_gateway.domain.calls import CallRejected, ToolCall, parse_call
from services.assistant_gateway.domain.messages import Text
from services.assistant_gateway.domain.outputs import Output, Views
from services.assistant_gateway.metrics import BUDGET_SPENT, TOOL_CALLS, tool_label

log = logging.getLogger(__name__)

REFUSAL_TEXTS: dict[str, Text] = {
    "not_found": Text.NOT_FOUND,
    "rate_limited": Text.RATE_LIMITED,
    "invalid_transition": Text.TICKET_CLOSED,
    "validation": Text.INVALID_ARGUMENTS,
    "forbidden": Text.NOT_ALLOWED,
    "conflict": Text.TRY_AGAIN,
}
HAND_OFF_TITLE = "Customer asked for a human agent"
BUDGET_EXCEEDED = "budget_exceeded"
"""The error of a call refused because a budget ran out; `detail` names the budget."""
RATEABLE = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED})
JOURNALED = frozenset({"add_ticket_comment", "request_human_agent", "rate_ticket"})
"""State-changing tools the ticket service cannot deduplicate itself."""


@dataclass(frozen=True, slots=True)
class Sender:
    """The verified sender. `language` is only what the sender declared (it is stored on
    the customer record); the language of the texts is resolved separately."""

    phone: str
    name: str | None = None
    language: Language | None = None
    conversation_id: str | None = None

    @property
    def actor(self) -> CustomerActor:
        """Name and language ride along: the ticket service keeps them on the customer."""
        return CustomerActor(phone=self.phone, name=self.name or None, language=self.language)


@dataclass(frozen=True, slots=True)
class Invocation:
    arguments: Any
    sender: Sender
    views: Views
    idempotency_key: str


Handler = Callable[["ToolExecutor", Invocation], Awaitable[Output]]


class ToolExecutor:
    def __init__(
        self,
        tickets: TicketsClient,
        directory: Directory,
        journal: ToolJournal,
        clock: Clock,
        default: Language,
        budget: ConversationBudget | None = None,
    ) -> None:
        self._tickets = tickets
        self._directory = directory
        self._journal = journal
        self._clock = clock
        self._default = default
        self._budget = budget

    async def language_for(self, sender: Sender, hint: Language | None = None) -> Language:
        """Declared language, else the customer record's, else the hint, else the default."""
        if sender.language is not None:
            self._directory.remember_language(sender.phone, sender.language, self._clock.now())
            return sender.language
        return await self._directory.customer_language(sender.phone) or hint or self._default

    async def execute(
        self,
        call: ToolCall,
        sender: Sender,
        language: Language,
        idempotency_key: str | None = None,
    ) -> dict[str, object]:
        views = Views(language, self._clock.now())
        try:
            result = await self._journaled(call, sender, views, idempotency_key or call.call_id)
        except Exception:
            log.exception("tool call failed", extra={"tool": call.name[:64]})
            result = views.failure("internal", Text.UNAVAILABLE).to_wire()
        outcome = "success" if result["success"] else str(result.get("error", "internal"))
        TOOL_CALLS.labels(tool_label(call.name), outcome).inc()
        log.info(
            "tool call",
            extra={"tool": call.name[:64], "callId": call.call_id, "outcome": outcome},
        )
        return result

    def refusal(self, tool: str, spent: str, language: Language) -> dict[str, object]:
        """The output of a call not run because the turn's budget ran out."""
        TOOL_CALLS.labels(tool_label(tool), BUDGET_EXCEEDED).inc()
        views = Views(language, self._clock.now())
        return views.failure(BUDGET_EXCEEDED, Text.HANDED_OFF, spent).to_wire()

    async def _spent(self, call: ToolCall, sender: Sender, views: Views) -> Output | None:
        """Charges the customer's conversation budget (every path: the loop, HTTP, the
        queue); the refusal when it ran out. A replay of a journaled call is not charged."""
        if self._budget is None:
            return None
        spent = await self._budget.charge(sender.phone, call.name[:64], views.now)
        if spent is None:
            return None
        BUDGET_SPENT.labels(spent).inc()
        log.warning("tool call budget spent", extra={"budget": spent, "tool": call.name[:64]})
        return views.failure(BUDGET_EXCEEDED, Text.HANDED_OFF, spent)

    async def _journaled(
        self, call: ToolCall, sender: Sender, views: Views, key: str
    ) -> dict[str, object]:
        """Replays of a journaled call answer the first successful output; a copy that
        comes while the first runs waits for it."""
        try:
            parsed = parse_call(call)
        except CallRejected as rejected:
            refused = await self._spent(call, sender, views)
            failure = views.failure(rejected.error, rejected.text, rejected.detail)
            return (refused or failure).to_wire()
        invocation = Invocation(parsed.arguments, sender, views, key)
        name = parsed.spec.name
        if name not in JOURNALED:
            return await self._charged(call, name, invocation)
        journal_key = f"{sender.phone}:{name}:{key}"
        return await self._journal.once(journal_key, lambda: self._charged(call, name, invocation))

    async def _charged(self, call: ToolCall, name: str, invocation: Invocation) -> dict[str, Any]:
        refused = await self._spent(call, invocation.sender, invocation.views)
        return (refused or await self._run(name, invocation)).to_wire()

    async def _run(self, name: str, invocation: Invocation) -> Output:
        views = invocation.views
        token = log_context.ticket_id.set(getattr(invocation.arguments, "ticket_id", None))
        try:
            return await HANDLERS[name](self, invocation)
        except TicketRefused as refused:
            text = REFUSAL_TEXTS.get(refused.code, Text.UNAVAILABLE)
            return views.failure(refused.code, text, refused.message[:300])
        except TicketServiceUnavailable as error:
            log.warning("ticket service unavailable", extra={"reason": str(error)})
            return views.failure("unavailable", Text.UNAVAILABLE)
        except ValidationError as error:  # a command the contract refuses is never sent
            detail = ", ".join(".".join(map(str, e["loc"])) for e in error.errors())
            return views.failure("validation", Text.INVALID_ARGUMENTS, f"Invalid fields: {detail}")
        except Exception:
            log.exception("tool call failed", extra={"tool": name})
            return views.failure("internal", Text.UNAVAILABLE)
        finally:
            log_context.ticket_id.reset(token)

    @staticmethod
    def encode(output: dict[str, object]) -> str:
        return json.dumps(output, ensure_ascii=False)

    # ---- the tools -----------------------------------------------------------------

    async def create_ticket_report(self, call: Invocation) -> Output:
        args: tools.CreateTicketReportArguments = call.arguments
        ticket = await self._create(
            call, args.title, args.description, args.category, args.priority
        )
        return call.views.created(ticket)

    async def _create(
        self,
        call: Invocation,
        title: str,
        description: str,
        category: Category | None,
        priority: Priority | None,
    ) -> Ticket:
        sender = call.sender
        command = CreateTicket(
            actor=sender.actor,
            title=title,
            description=description,
            source=Source.AI,
            customer=CustomerByPhone(
                phone=sender.phone, name=sender.name or None, language=sender.language
            ),
            conversation_id=sender.conversation_id,
            idempotency_key=call.idempotency_key,
            **_given(category=category, priority=priority),
        )
        return await self._tickets.create(command)

    async def get_ticket_information(self, call: Invocation) -> Output:
        args: tools.GetTicketInformationArguments = call.arguments
        ticket = await self._tickets.get(
            GetTicket(actor=call.sender.actor, ticket_id=args.ticket_id)
        )
        agent = await self._directory.agent(ticket.assigned_agent)
        return call.views.information(ticket, agent)

    async def list_my_tickets(self, call: Invocation) -> Output:
        args: tools.ListMyTicketsArguments = call.arguments
        return call.views.listing(
            await self._list(call.sender, args.open_only is not False, args.limit or 10)
        )

    async def _list(self, sender: Sender, open_only: bool, limit: int) -> list[Ticket]:
        command = ListTickets(
            actor=sender.actor, open_only=open_only, limit=limit, sort="-updatedAt"
        )
        return (await self._tickets.list(command)).items

    async def add_ticket_comment(self, call: Invocation) -> Output:
        args: tools.AddTicketCommentArguments = call.arguments
        ticket = await self._note(call.sender, args.ticket_id, args.comment)
        return call.views.comment_added(ticket)

    async def _note(self, sender: Sender, ticket_id: str, content: str) -> Ticket:
        command = AddNote(actor=sender.actor, ticket_id=ticket_id, content=content, is_visible=True)
        return await self._tickets.add_note(command)

    async def request_human_agent(self, call: Invocation) -> Output:
        """A note with the reason (refused for another customer's or a closed ticket, so
        it goes first), then one priority level up; with no open ticket, a new one."""
        args: tools.RequestHumanAgentArguments = call.arguments
        ticket_id = args.ticket_id
        if ticket_id is None:
            latest = await self._list(call.sender, open_only=True, limit=1)
            if not latest:
                description = f"The customer asked to talk to a person: {args.reason}"
                ticket = await self._create(call, HAND_OFF_TITLE, description, None, Priority.HIGH)
                return call.views.human_requested(ticket)
            ticket_id = latest[0].ticket_id
        reason = f"{HAND_OFF_TITLE}: {args.reason}"
        ticket = await self._note(call.sender, ticket_id, reason)
        command = EscalatePriority(
            actor=call.sender.actor, ticket_id=ticket_id, reason=reason[:500]
        )
        try:
            ticket = await self._tickets.escalate_priority(command)
        except TicketRefused as refused:
            if refused.code != "invalid_transition":
                raise
            log.info("hand-off without escalation", extra={"ticketId": ticket_id})
        return call.views.human_requested(ticket)

    async def rate_ticket(self, call: Invocation) -> Output:
        """A resolved or closed ticket of the customer's, once per resolution; a refusal
        says why in the customer's words (not resolved yet, already rated, nothing to rate)."""
        args: tools.RateTicketArguments = call.arguments
        views, actor = call.views, call.sender.actor
        if args.ticket_id is not None:
            ticket = await self._tickets.get(GetTicket(actor=actor, ticket_id=args.ticket_id))
        else:
            query = ListTickets(actor=actor, status=sorted(RATEABLE), limit=1, sort="-updatedAt")
            latest = (await self._tickets.list(query)).items
            if not latest:
                return views.failure("not_found", Text.NOTHING_TO_RATE)
            ticket = latest[0]
        if ticket.status not in RATEABLE:
            return views.failure(
                "invalid_transition", Text.NOT_RESOLVED_YET, ticket_id=ticket.ticket_id
            )
        if ticket.rated_this_resolution:
            return self._already_rated(views, ticket)
        command = RateTicket(
            actor=actor, ticket_id=ticket.ticket_id, rating=args.rating, comment=args.comment
        )
        try:
            rated = await self._tickets.rate(command)
        except TicketRefused as refused:
            if refused.code != "conflict":
                raise
            return self._already_rated(views, ticket, refused.message)
        return views.rated(rated, args.rating)

    @staticmethod
    def _already_rated(views: Views, ticket: Ticket, detail: str | None = None) -> Output:
        given = ticket.customer_satisfaction.rating if ticket.customer_satisfaction else "?"
        return views.failure(
            "already_rated",
            Text.ALREADY_RATED,
            detail,
            ticket_id=ticket.ticket_id,
            rating=str(given),
        )


def _given(**fields: Any) -> dict[str, Any]:
    """The optional fields the model chose (left out, the command's defaults apply)."""
    return {name: value for name, value in fields.items() if value is not None}


HANDLERS: dict[str, Handler] = {
    "create_ticket_report": ToolExecutor.create_ticket_report,
    "get_ticket_information": ToolExecutor.get_ticket_information,
    "list_my_tickets": ToolExecutor.list_my_tickets,
    "add_ticket_comment": ToolExecutor.add_ticket_comment,
    "request_human_agent": ToolExecutor.request_human_agent,
    "rate_ticket": ToolExecutor.rate_ticket,
}
assert set(HANDLERS) == set(tools.TOOLS), "every tool needs a handler"
