"""Thin FastStream subscribers: one per `tickets.v1.*` queue, each over one use case."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.rabbit import RabbitRouter
from faststream.rabbit.annotations import RabbitMessage
from pydantic import BaseModel, ValidationError

from contracts import commands as cmd
from contracts import names
from contracts.actors import SystemActor
from contracts.enums import ErrorCode
from contracts.replies import OkReply
from contracts.tickets import Ticket
from infra import logging as log_context
from infra.inbox import correlation_of, payload
from infra.messaging import command_queue, error_reply
from services.ticket_service.access import with_visible_key
from services.ticket_service.domain.errors import DomainError
from services.ticket_service.sla_usecases import record_sla_breach
from services.ticket_service.ticket_edits import update_ticket
from services.ticket_service.usecases import TicketUseCases

log = logging.getLogger(__name__)

SYSTEM_ACTOR = SystemActor()
UseCase = Callable[[TicketUseCases, Any], Awaitable[BaseModel]]


def _data(result: BaseModel, command: BaseModel) -> Any:
    if isinstance(result, Ticket):
        actor = getattr(command, "actor", SYSTEM_ACTOR)
        return with_visible_key(actor, result.to_wire())
    return result.model_dump(mode="json", by_alias=True)


ROUTES: dict[str, tuple[type[BaseModel], UseCase]] = {
    names.CREATE: (cmd.CreateTicket, TicketUseCases.create),
    names.GET: (cmd.GetTicket, TicketUseCases.get),
    names.LIST: (cmd.ListTickets, TicketUseCases.list),
    names.ASSIGN: (cmd.AssignTicket, TicketUseCases.assign),
    names.UNASSIGN: (cmd.UnassignTicket, TicketUseCases.unassign),
    names.CHANGE_STATUS: (cmd.ChangeStatus, TicketUseCases.change_status),
    names.ADD_NOTE: (cmd.AddNote, TicketUseCases.add_note),
    names.MARK_FIRST_RESPONSE: (cmd.MarkFirstResponse, TicketUseCases.mark_first_response),
    names.RATE: (cmd.RateTicket, TicketUseCases.rate),
    names.ESCALATE_PRIORITY: (cmd.EscalatePriority, TicketUseCases.escalate),
    names.CUSTOMER_MESSAGE: (cmd.CustomerMessage, TicketUseCases.customer_message),
    names.RECORD_SLA_BREACH: (cmd.RecordSlaBreach, record_sla_breach),
    names.UPDATE: (cmd.UpdateTicket, update_ticket),
}


async def execute(
    use_cases: TicketUseCases, model: type[BaseModel], use_case: UseCase, payload: Any
) -> dict[str, Any]:
    """Validate, run, and map the outcome (or the typed error) to the reply envelope."""
    try:
        command = model.model_validate(payload)
    except ValidationError as error:
        details = error.errors(include_url=False, include_context=False, include_input=False)
        fields = ", ".join(".".join(map(str, e["loc"])) or "body" for e in details)
        return error_reply(
            ErrorCode.VALIDATION, f"Invalid fields: {fields}", [dict(d) for d in details]
        )
    token = log_context.ticket_id.set(getattr(command, "ticket_id", None))
    try:
        result = await use_case(use_cases, command)
    except DomainError as error:
        log.info("command refused", extra={"code": error.code, "reason": error.message})
        return error_reply(error.code, error.message, error.details())
    except Exception:
        log.exception("command failed", extra={"command": model.__name__})
        return error_reply(ErrorCode.INTERNAL, "Internal error; the request was not applied")
    finally:
        log_context.ticket_id.reset(token)
    return OkReply(data=_data(result, command)).model_dump(mode="json")


def build_router(use_cases: Callable[[], TicketUseCases]) -> RabbitRouter:
    """`use_cases` is resolved per message so the router can be built before start-up."""
    router = RabbitRouter()
    for queue, (model, use_case) in ROUTES.items():
        _subscribe(router, queue, model, use_case, use_cases)
    return router


def _subscribe(
    router: RabbitRouter,
    queue: str,
    model: type[BaseModel],
    use_case: UseCase,
    use_cases: Callable[[], TicketUseCases],
) -> None:
    async def handle(message: RabbitMessage) -> dict[str, Any]:
        log_context.correlation_id.set(correlation_of(message))
        return await execute(use_cases(), model, use_case, await payload(message))

    handle.__name__ = f"handle_{queue.rsplit('.', 1)[-1]}"
    handle.__doc__ = f"{model.__doc__ or model.__name__} Replies with the envelope."
    router.subscriber(command_queue(queue), title=queue)(handle)
